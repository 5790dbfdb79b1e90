"""The measurement of one cell (one configuration, one arm, one round) and the registry of arms.

Importing `cell` is cheap: no keras, no mxnet, no torch; bench.py and the report read
`cell.arms` without paying for any framework.
"""
