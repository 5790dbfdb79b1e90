"""`bench.py --model`'s check of stock keras-mxnet against Keras itself (issue 30, item 5).

    python -m conformance.model_check FILE.py[:FUNCTION]
        one JSON line: {"keras": "yes (tf.keras X)" or why stock computes otherwise}

The user's model goes through the conformance suite's own path, as a case of its own: built by
the user's function, given the suite's drawn weights, one batch of drawn inputs, its loss; then
tf.keras (the reference environment, `make setup-reference`) computes the same quantities from
the model's h5, and conformance.verdict compares them within the suite's one tolerance (its
training quantities within their float32 conditioning, as the corpus's: conformance/run.py).
Runs only where .venv-reference exists; sweep/model.py asks for it then, and records the verdict
in the keras rows' `verified`.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from conformance import REFERENCE_PYTHON, ROOT, exchange, run, stock, verdict
from conformance.cases import Case
from keras_models import user_model

TIMEOUT_S = 600


def case_of(spec):
    """The user's model as a conformance case: its inputs (tokens below the Embedding's size
    where an input feeds one) and its loss, as compiled."""
    from shim.keras_mxnet import keras

    model = user_model.build(spec)
    inputs = [(keras.backend.int_shape(tensor)[1:], "float32",
               user_model.embedding_size(model, i) or 0) for i, tensor in enumerate(model.inputs)]
    losses = [user_model.loss_name(model, i) for i in range(len(model.outputs))]
    return Case(name=user_model.name_of(spec), kind="model", inputs=inputs,
                loss=losses if len(losses) > 1 else losses[0],
                build=lambda keras: user_model.build(spec))


def check(spec):
    """'yes (tf.keras X)' where stock computes what Keras does on the model, else why not."""
    try:
        case = case_of(spec)
    except user_model.ModelError as error:
        return f"not checked against tf.keras: {error}"
    with tempfile.TemporaryDirectory(prefix="model-check-") as work:
        try:
            out = stock.run(case, work)
        except stock.Fails as failure:
            return f"stock keras-mxnet {failure}"
        done = subprocess.run([REFERENCE_PYTHON, "-m", "conformance.reference", work], cwd=ROOT,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        cannot = os.path.join(work, "reference.json")
        if done.returncode or os.path.exists(cannot):
            why = exchange.read_json(cannot)["cannot"] if os.path.exists(cannot) else \
                (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            return f"not checked: tf.keras cannot run it ({why})"
        with np.load(os.path.join(work, "reference.npz")) as found:
            reference = {k: found[k] for k in found.files}
    _, first = verdict.compare(out, reference)
    if first:
        # The corpus's rule, from the same function: a training quantity of an
        # ill-conditioned model (BatchNormalization at a 1x1 map, at batch 2) is judged within
        # CONDITIONED x how far stock moves with its inputs and weights nudged by one ulp.
        first, _ = run._within_conditioning(case, out, reference, first)
    if first:
        return f"differs from tf.keras {reference['tensorflow']}: {first}"
    return f"yes (tf.keras {reference['tensorflow']})"


def main(argv):
    spec, = argv
    try:
        print(json.dumps({"keras": check(spec)}))
    except user_model.ModelError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
