"""keras-fused against stock for a case (verdicts b and c): which fixes of shim/fused/ applied,
whether shim/fused/verify.py verifies the fused model equal to stock, and what was kept stock.

verify.py does the comparing (its weights, batch, optimizers and tolerance); this module only
builds the case both ways and words the outcome.
"""
import numpy as np

from conformance import SGD
from conformance.stock import data_format, fresh_learning_phase, one_line, settle

CONTEXTS = ["cpu(0)"]


def check(case, built=None):
    """{"fixes": applied, "fused": verdict, "kept": what fell back and why}. built: the case's
    stock model as conformance/stock.py built it, used again as verify.py's stock (verify.py
    gives both models its own weights and compiles each before every use)."""
    from shim import fused
    from shim.fused import verify
    from shim.keras_mxnet import keras

    def builder():
        fresh_learning_phase(keras)
        with data_format(keras, case.data_format):
            model = case.build(keras)
        model.compile(optimizer=keras.optimizers.SGD(**SGD), loss=case.loss)
        return model

    try:
        stock = built or verify.build(builder, False)
    except Exception as error:
        return {"fixes": "", "fused": "stock fails to build", "kept": one_line(error)}
    if stock.stateful:   # the states a fresh build has: the case's own runs left theirs
        stock.reset_states()
    try:
        fast = verify.build(builder, None)
    except Exception as error:
        return {"fixes": "", "fused": f"fails to build: {one_line(error)}", "kept": ""}
    records = fused.layers()
    applied = sorted({r["fix"] for r in records if r["fused"]})
    kept = "; ".join(f"{r['layer']}: {r['reason']}" for r in records if not r["fused"])
    if not applied:
        return {"fixes": "", "fused": "no fix applies", "kept": kept}
    x = case.draw_inputs()
    try:
        # Targets from the output shapes, not from a prediction: once the stock model has
        # predicted, set_weights (as verify.py calls it) no longer reaches its module while
        # another model is the last compiled, and verify.py would report a false difference.
        y = case.draw_targets([np.zeros(s) for s in output_shapes(stock, x)])
        why = verify.first_difference(stock, fast, x, y if len(y) > 1 else y[0], CONTEXTS)
    except Exception as error:
        settle()
        why = f"cannot be compared: {one_line(error)}"
    return {"fixes": "+".join(applied), "fused": "verified" if why is None else why,
            "kept": kept}


def output_shapes(model, x):
    """The shapes of the model's outputs on the inputs x, from its declared output shapes; a
    dimension the model leaves open (a sequence of any length: lstm_seq2seq's decoder) is
    MXNet's shape inference of the output from x's shapes, as no model has predicted yet."""
    declared = model.output_shape if isinstance(model.output_shape, list) else \
        [model.output_shape]
    found = []
    for output, shape in zip(model.outputs, declared):
        shape = (len(x[0]),) + tuple(shape[1:])
        if None in shape:
            _, inferred, _ = output.symbol.infer_shape_partial(
                **{t.name: a.shape for t, a in zip(model.inputs, x)})
            shape = tuple(inferred[0])
        found.append(shape)
    return found
