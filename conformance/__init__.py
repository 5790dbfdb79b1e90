"""The conformance suite: keras-mxnet (through shim/) against Keras 2 on TensorFlow, case by case.

docs/conformance.md says what it holds and how to read its table. One module, one job:
cases.py (what a case is), corpus.py (every case, by name), layers.py / applications.py / examples.py (the
corpus's three kinds), layout.py (keras-mxnet's weight layouts against Keras's), exchange.py
(the files a case crosses between the two environments in), stock.py (the case computed by
keras-mxnet), reference.py (the case computed by tf.keras; runs in .venv-reference only),
fixtures.py (the reference's outputs as committed fixtures), verdict.py (the comparisons),
fused_check.py (keras-fused against stock), table.py (the table and the summary), __main__.py
(the command).

Nothing here imports keras at import time: reference.py runs in an environment without
keras-mxnet, and the command's bad-input checks come before any import of keras.
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_PYTHON = os.path.join(ROOT, ".venv-reference", "bin", "python")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "conformance")
RESULTS = os.path.join(ROOT, "results", "conformance")
DOC = os.path.join(ROOT, "docs", "conformance.md")

# One training step of each optimizer, as shim/fused/verify.py takes them (Adam's larger epsilon
# keeps its first step a function of the gradient, not of its sign, which float32 rounding flips
# wherever a gradient is near zero).
SGD = {"lr": 0.1}
ADAM = {"lr": 0.01, "epsilon": 1e-3}
SEED = 0
