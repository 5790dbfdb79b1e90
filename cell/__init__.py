"""The measurement of one cell (one configuration, one arm, one round) and the registry of arms.

    arms.py       the registry: every arm, the module that trains it, its label and ratios
    contract.py   what an implementation imports: Trained, the epoch order, the metrics
    harness.py    one cell in this process (`python -m cell CELL_JSON RESULT_JSON`)
    noise.py      what the rest of the machine did while a cell ran
    profiling.py  per-operator times over the timed epochs (bench.py --profile)
    peak.py       the machine's FP32 GEMM rate, the roof of GFLOP/s (bench.py --peak)

The implementations import cell.contract and never the harness, which imports them: the
dependency runs one way. Importing `cell` is cheap: no keras, no mxnet, no torch; bench.py and
the report read `cell.arms` without paying for any framework.
"""
