"""The sweep: which cells run, in what order, and how each configuration's round is measured.

Importing `sweep` is cheap: no keras, no mxnet, no torch.
"""
