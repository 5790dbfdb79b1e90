"""A case computed by stock keras-mxnet (shim/ alone): what the reference is compared with.

Weights are read the way that is right for any model: each model is compiled right before it
is used and read through its own module (`_module.get_params()`, as shim/fused/verify.py does;
`_sync_weights` before a save), never through `get_weights` alone, which keras-mxnet keeps
current only for the last model compiled (issue 30).
"""
import contextlib
import os
import re

import numpy as np

from conformance import ADAM, SEED, SGD, layout
from conformance.cases import draw_weights
from conformance import exchange


class Fails(Exception):
    """keras-mxnet cannot build, compile or run the case: the verdict, not a harness error."""


def one_line(error):
    """The error in one line: MXNet's own message where MXNet raised it (a bind error's first
    line names nothing), else the first line."""
    text = [t.strip() for t in f"{type(error).__name__}: {error}".strip().splitlines()
            if t.strip()]
    mxnet = [i for i, t in enumerate(text) if t.startswith("MXNetError: ")
             and "Traceback" not in t]
    line = text[mxnet[-1]] if mxnet else (text[0] if text else type(error).__name__)
    if mxnet and line.endswith("inputs:") and mxnet[-1] + 1 < len(text):
        line += " " + text[mxnet[-1] + 1]   # which input MXNet could not infer
    return re.sub(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ", "", line)[:240]


def settle():
    """Wait for every MXNet operation still pending after a case failed, and drop the error one
    of them raises: MXNet runs operations asynchronously, and an operation queued by the failed
    case (its second model's training, say) raised its error in the next case's first wait
    (examples.mnist_siamese 'failed' with examples.mnist_denoising_autoencoder's oneDNN error)."""
    import mxnet as mx

    try:
        mx.nd.waitall()
    except Exception:   # MXNetError: the failed case's, already reported as its verdict
        pass


@contextlib.contextmanager
def precision(keras, floatx):
    """keras.backend.floatx() while a case runs: float64 for verdict.py's second judgement."""
    before = keras.backend.floatx()
    keras.backend.set_floatx(floatx)
    try:
        yield
    finally:
        keras.backend.set_floatx(before)


@contextlib.contextmanager
def data_format(keras, value):
    before = keras.backend.image_data_format()
    if value:
        keras.backend.set_image_data_format(value)
    try:
        yield
    finally:
        keras.backend.set_image_data_format(before)


def nudged(arrays, seed):
    """Each float array with its elements moved by one unit in the last place, up, down or
    not at all, drawn from `seed`: the rounding any float32 computation already makes."""
    rng = np.random.default_rng(seed)
    return [a if a.dtype.kind != "f" else
            np.where(rng.integers(0, 2, a.shape).astype(bool), a,
                     np.nextafter(a, np.where(rng.integers(0, 2, a.shape).astype(bool),
                                              np.inf, -np.inf).astype(a.dtype)))
            for a in arrays]


def build(case, keras, nudge=None, model=None):
    """The case's model with its drawn weights (or Fails); seeds fixed so that anything a
    builder draws is drawn alike every time; nudge (0, 1, ...: which draw): the weights nudged
    by one unit in the last place (verdict.py's conditioning); model: the case's model as an
    earlier run built it, used again (building an application is most of its time). The
    weights are drawn in float32 and given in keras.backend.floatx(): the same numbers in
    float64."""
    import mxnet as mx

    fresh_learning_phase(keras)
    if model is None:
        # Layer names (and so the keys `<layer>#<i>` the fixtures hold) restart with each
        # case, whatever ran before it.
        keras.backend.clear_session()
        fresh_learning_phase(keras)
        np.random.seed(SEED)
        mx.random.seed(SEED)
        try:
            with data_format(keras, case.data_format):
                model = case.build(keras)
        except Exception as error:
            settle()
            raise Fails(f"fails to build: {one_line(error)}") from error
    weights = [w.astype(keras.backend.floatx()) for w in draw_weights(
        case, [(w.name, tuple(int(d) for d in w.shape)) for w in ordered(model)])]
    return model, (weights if nudge is None else nudged(weights, case.seed() + 3 + 2 * nudge))


def fresh_learning_phase(keras):
    """keras-mxnet's learning phase as a new session has it (1). A layer that fails to build
    leaves it at whatever phase it was building (keras_mxnet_symbol sets it and restores it only
    on success), and every later Dropout then fails to build: no case inherits that."""
    keras.backend.set_learning_phase(1)


def ordered(model):
    """The model's weights in set_weights's order: layer by layer (model.weights puts every
    trainable weight before every frozen one)."""
    return [w for layer in model.layers for w in layer.weights]


def keyed(model):
    """[(key, weight, class name, config)] for every weight Keras also has: `<layer>#<i>`, i
    counting the layer's weights in the order tf.keras's `layer.weights` gives them (for a
    model used as a layer: its layers' weights, layer by layer, where keras-mxnet's puts every
    trainable weight first: the mnist_acgan generator's gradients were keyed to other weights)."""
    found = []
    for layer in model.layers:
        found += [(f"{layer.name}#{i}", w, class_name, config)
                  for i, (w, class_name, config) in enumerate(_weights_of(layer))]
    return found


def _weights_of(layer):
    """[(weight, class name, config)] of the layer's weights Keras also has, in Keras's order,
    with the class and config of the (innermost) layer that owns each."""
    from shim.keras_mxnet import keras

    if isinstance(layer, keras.engine.network.Network):
        found, seen = [], set()
        for inner in layer.layers:
            for entry in _weights_of(inner):
                if id(entry[0]) not in seen:   # a weight shared by two layers counts once
                    seen.add(id(entry[0]))
                    found.append(entry)
        return found
    inner = layer.layer if isinstance(layer, keras.layers.Wrapper) else layer
    config = inner.get_config()
    return [(w, type(inner).__name__, config) for w in layer.weights
            if not layout.mxnet_only(type(inner).__name__, config, w.name)]


def compiled(model, case, optimizer):
    model.compile(optimizer=optimizer, loss=case.loss)
    return model


def as_list(value):
    return value if isinstance(value, list) else [value]


def predict(model, x, batch):
    if model.stateful:
        model.reset_states()
    return [np.asarray(p) for p in as_list(model.predict(x, batch_size=batch))]


def gradients(model):
    """{weight name: gradient of the last training batch}, as shim/fused/verify.py's grads
    reads them, for every weight MXNet computed one for (a frozen weight has none)."""
    group = model._module._curr_module._exec_group
    return {name: sum(g.asnumpy() for g in per_device)
            for name, per_device in zip(group.param_names, group.grad_arrays)
            if all(g is not None for g in per_device)}


def step(model, case, optimizer, weights, x, y):
    """One training batch from `weights`: (loss, {key: gradient}, {key: weight after})."""
    compiled(model, case, optimizer)
    model.set_weights(weights)
    if model.stateful:
        model.reset_states()
    loss = float(np.atleast_1d(model.train_on_batch(x, y))[0])
    trainable = {w.name for w in model.trainable_weights}
    grads = {k: v for k, v in gradients(model).items() if k in trainable}
    args, auxs = model._module.get_params()
    after, found = {}, {}
    for key, w, class_name, config in keyed(model):
        value = args[w.name] if w.name in args else auxs[w.name]
        after[key] = layout.to_keras(class_name, config, w.name, value.asnumpy())
        if w.name in grads:
            found[key] = layout.to_keras(class_name, config, w.name, grads[w.name])
    return loss, found, after


def run(case, folder, nudge=None, model=None, floatx="float32"):
    """Everything stock computes for the case; the reference's files written to `folder`.
    nudge (0, 1, ...: which draw): from inputs and weights nudged by one unit in the last place
    (`nudged`), to measure how far float32 rounding alone moves what it computes (verdict.py);
    model: the one an earlier run of the case built (its out["model"]), used again, in the
    same floatx; floatx: "float64" computes the case in float64 (the same drawn numbers, the
    model built anew), as verdict.py's second judgement does."""
    from shim.keras_mxnet import keras

    with precision(keras, floatx):
        return _run(keras, case, folder, nudge, model)


def _run(keras, case, folder, nudge, model):
    os.makedirs(folder, exist_ok=True)
    floatx = keras.backend.floatx()
    model, weights = build(case, keras, nudge, model)
    out = {"model": model}
    try:
        compiled(model, case, keras.optimizers.SGD(**SGD))   # the active model from here on
        model.set_weights(weights)
        x = [a.astype(floatx) if a.dtype.kind == "f" else a for a in case.draw_inputs()]
        if nudge is not None:   # not drawn integers (tokens, classes): those are no rounding
            x = [n if high == 0 else a for a, n, (_, _, high)
                 in zip(x, nudged(x, case.seed() + 4 + 2 * nudge), case.inputs)]
        out["pred"] = predict(model, x, case.batch)
        y = [t.astype(floatx) if t.dtype.kind == "f" else t
             for t in case.draw_targets(out["pred"])]
        saved = os.path.join(folder, "stock.h5")
        model._sync_weights()
        model.save(saved)
    except Exception as error:
        settle()
        raise Fails(f"fails to compile or predict: {one_line(error)}") from error
    out["x"], out["y"] = x, y
    if nudge is None:   # a nudged run is read for its training quantities alone (verdict.py)
        out["h5_holds"] = h5_holds(saved, model, weights)
        out["round_trip"] = round_trip(keras, saved, out["pred"], x, case)
        layout.convert_h5(saved, os.path.join(folder, "model.h5"))
        exchange.write_data(folder, x, y)
        exchange.write_json(os.path.join(folder, "case.json"),
                            {"name": case.name, "loss": case.loss, "batch": case.batch,
                             "sgd": SGD, "adam": ADAM, "floatx": floatx})
    try:
        train = model
        described = exchange.write_derandomized(saved, os.path.join(folder, "train-stock.h5"))
        if described:
            layout.convert_h5(os.path.join(folder, "train-stock.h5"),
                              os.path.join(folder, "train.h5"))
            train = keras.models.load_model(os.path.join(folder, "train-stock.h5"),
                                            compile=False)
            out["derandomized"] = described
        out["loss"], out["grad"], out["sgd"] = step(
            train, case, keras.optimizers.SGD(**SGD), weights, x, y)
        _, _, out["adam"] = step(train, case, keras.optimizers.Adam(**ADAM), weights, x, y)
    except Exception as error:
        settle()
        raise Fails(f"fails to train: {one_line(error)}") from error
    return out


def h5_holds(path, model, weights):
    """None where the saved h5 holds the weights the model was given; else what differs."""
    saved = exchange.h5_weights(path)
    given = dict(zip((w.name for w in ordered(model)), weights))
    for layer in model.layers:
        names = [w.name for w in layer.weights]
        for name, value in zip(names, saved.get(layer.name, [])):
            if not np.array_equal(value, given[name]):
                return f"saved {name} is not the weight it was given " \
                       f"(max |difference| {float(np.abs(value - given[name]).max()):.3g})"
    return None


def round_trip(keras, path, predictions, x, case):
    """None where the saved model, loaded again, predicts what the model did; else why not."""
    from shim.fused import verify

    try:
        loaded = keras.models.load_model(path, compile=False)
        again = predict(loaded, x, case.batch)
    except Exception as error:
        return f"does not load: {one_line(error)}"
    for a, b in zip(predictions, again):
        found = verify.difference(a, b)
        if found:
            return f"predicts otherwise ({found})"
    return None
