"""The fused path (shim/fused/) computes what stock keras-mxnet computes.

For each fix alone and all together, a model built with the fused path and the same model built
stock, given the same weights, must give the same predictions, loss, gradient of every trainable
weight, and parameters after one SGD and one Adam step, within float32 tolerance. Each case also
checks that the fix changed the graph, so that a fix which did nothing can't pass.
"""
import dataclasses
import logging

import numpy as np
import pytest

from shim import fused
from shim.fused import verify
from shim.keras_mxnet import keras
from keras import layers

import scenarios
from keras_models import lenet, rnn
from tests.helpers import needs_bfloat16

FIX_SETS = [(name,) for name in fused.FIXES] + [None]
FIX_IDS = list(fused.FIXES) + ["all"]
TOLERANCE = verify.TOLERANCE
# The CNN-LSTM with 40 steps instead of 500: the same layers, a test-sized graph.
SHORT_RNN = dataclasses.replace(scenarios.RNN, sequence_length=40)


@pytest.fixture(autouse=True)
def stock_afterwards(monkeypatch):
    # The copies fix moves only copies MXNet would make in parallel (>= this many elements):
    # lowered, so that the test-sized batches and weights take the fix's path too.
    monkeypatch.setenv("MXNET_CPU_PARALLEL_SIZE", "1000")
    yield
    fused.disable()


def operators(model):
    """How often each operator occurs in the model's training graph."""
    import json

    counts = {}
    for node in json.loads(model._train_mxnet_symbol.tojson())["nodes"]:
        counts[node["op"]] = counts.get(node["op"], 0) + 1
    return counts


def nodes(model, op):
    import json

    return [n for n in json.loads(model._train_mxnet_symbol.tojson())["nodes"] if n["op"] == op]


def convolutions_with_bias(model):
    return sum(n["attrs"].get("no_bias") == "False" for n in nodes(model, "Convolution"))


def one_dimensional(model):
    """Convolutions and poolings with a 1-D kernel."""
    import ast

    return sum(len(ast.literal_eval(n["attrs"]["kernel"])) == 1
               for op in ("Convolution", "Pooling") for n in nodes(model, op))


def build(builder, fixes, loss, optimizer, context):
    def compiled():
        model = builder()
        model.compile(optimizer=optimizer(), loss=loss, context=context)
        return model
    return verify.build(compiled, fixes)


def compare(builder, x, y, loss, fixes, contexts=("cpu(0)",), changed=None):
    """Stock against fused, from the same weights: predictions, loss, gradients, then the
    parameters after one SGD step and after one Adam step (shim/fused/verify.py)."""
    sgd = lambda: keras.optimizers.SGD(lr=0.1)
    stock = build(builder, False, loss, sgd, list(contexts))
    fast = build(builder, fixes, loss, sgd, list(contexts))
    verify_same(stock.get_weights(), fast.get_weights(), "initial weight")
    verify.same_weights(stock, fast)
    if changed:
        changed(operators(stock), operators(fast), stock, fast)
    assert np.abs(stock.predict(x, batch_size=len(x))).max() > 1e-3  # zeros prove nothing
    assert verify.first_difference(stock, fast, x, y, list(contexts)) is None


def verify_same(stock, fast, what):
    assert len(stock) == len(fast), what
    for i, (a, b) in enumerate(zip(stock, fast)):
        assert verify.difference(a, b) is None, f"{what} {i}: {verify.difference(a, b)}"


def expect(fixes, **when):
    """A check that the graph changed as each fix in `fixes` says, where a fix applies."""
    on = set(fused.FIXES if fixes is None else fixes)

    def check(stock_ops, fast_ops, stock, fast):
        if "rnn" in on:
            assert fast_ops.get("RNN", 0) == when.get("rnn", 0), fast_ops
            if when.get("rnn"):
                assert fast_ops.get("dot", 0) < stock_ops.get("dot", 0)
        if "bias" in on:
            assert convolutions_with_bias(fast) == when.get("bias", 0)
            assert convolutions_with_bias(stock) == 0
            if when.get("bias"):
                assert fast_ops.get("broadcast_add", 0) < stock_ops.get("broadcast_add", 0)
        if "dense" in on:
            assert fast_ops.get("FullyConnected", 0) == when.get("dense", 0), fast_ops
        if "conv1d" in on:
            assert one_dimensional(fast) == when.get("conv1d", 0)
        if "rnn" not in on:
            assert "RNN" not in fast_ops
        if "bias" not in on:
            assert convolutions_with_bias(fast) == 0
        if "dense" not in on:
            assert "FullyConnected" not in fast_ops
        if "conv1d" not in on:
            assert one_dimensional(fast) == 0
        assert "FullyConnected" not in stock_ops and one_dimensional(stock) == 0
    return check


def mnist_batch(n=8):
    rng = np.random.default_rng(1)
    return (rng.random((n, 1, 28, 28), dtype=np.float32),
            keras.utils.to_categorical(rng.integers(0, 10, n), 10))


def imdb_batch(n=8, steps=SHORT_RNN.sequence_length):
    rng = np.random.default_rng(2)
    return (rng.integers(0, SHORT_RNN.vocabulary, (n, steps)),
            rng.integers(0, 2, (n, 1)).astype(np.float32))


@pytest.mark.parametrize("contexts", [("cpu(0)",), ("cpu(0)", "cpu(1)")], ids=["cpu", "cpu:0-1"])
@pytest.mark.parametrize("fixes", FIX_SETS, ids=FIX_IDS)
def test_lenet_fused_computes_as_stock(fixes, contexts):
    x, y = mnist_batch()
    compare(lenet.build, x, y, scenarios.LENET.loss, fixes, contexts,
            changed=expect(fixes, bias=2, dense=2))


@pytest.mark.slow
@pytest.mark.parametrize("contexts", [("cpu(0)",), ("cpu(0)", "cpu(1)")], ids=["cpu", "cpu:0-1"])
@pytest.mark.parametrize("fixes", FIX_SETS, ids=FIX_IDS)
def test_cnn_lstm_fused_computes_as_stock(fixes, contexts):
    x, y = imdb_batch()
    compare(lambda: rnn.build(SHORT_RNN), x, y, SHORT_RNN.loss, fixes, contexts,
            changed=expect(fixes, bias=1, rnn=1, dense=1, conv1d=2))


def sequential(*stack):
    return lambda: keras.models.Sequential([layer() for layer in stack])


SEQUENCE = np.random.default_rng(3).random((6, 12, 5), dtype=np.float32)
IMAGE_FIRST = np.random.default_rng(4).random((6, 3, 9, 9), dtype=np.float32)
IMAGE_LAST = IMAGE_FIRST.transpose(0, 2, 3, 1).copy()
SIGMOID = {"recurrent_activation": "sigmoid"}

# name: (layers, input batch, output units, what the fixes change: see expect)
OTHER_MODELS = {
    "conv2d-channels-last": ([lambda: layers.Conv2D(4, 3, padding="same", activation="relu",
                                                    input_shape=(9, 9, 3)),
                              lambda: layers.Conv2D(4, 2, padding="same"),  # an even kernel
                              layers.Flatten, lambda: layers.Dense(3)], IMAGE_LAST, 3,
                             {"bias": 2, "dense": 1}),
    "conv2d-channels-first": ([lambda: layers.Conv2D(4, 3, strides=2, input_shape=(3, 9, 9),
                                                     data_format="channels_first"),
                               lambda: layers.Flatten(data_format="channels_first"),
                               lambda: layers.Dense(3)], IMAGE_FIRST, 3, {"bias": 1, "dense": 1}),
    "conv1d-valid-strided-dilated-causal": ([
        lambda: layers.Conv1D(4, 3, input_shape=(12, 5), activation="relu"),
        lambda: layers.Conv1D(4, 3, strides=2, activation="tanh"),  # reads the view above
        lambda: layers.Conv1D(3, 2, dilation_rate=2, padding="causal"),
        lambda: layers.Conv1D(3, 2, padding="same", use_bias=False),  # an even kernel
        layers.Flatten, lambda: layers.Dense(2)], SEQUENCE, 2,
        {"bias": 3, "dense": 1, "conv1d": 4}),
    "conv1d-channels-first-and-pooling": ([
        lambda: layers.Conv1D(4, 3, padding="same", data_format="channels_first",
                              input_shape=(12, 5)),
        lambda: layers.MaxPooling1D(2, padding="same", data_format="channels_first"),
        lambda: layers.AveragePooling1D(3, strides=1, data_format="channels_first"),
        lambda: layers.MaxPooling1D(2, padding="same"),
        layers.Flatten, lambda: layers.Dense(2)], SEQUENCE, 2,
        {"bias": 1, "dense": 1, "conv1d": 4}),
    "dense-without-bias": ([lambda: layers.Dense(4, use_bias=False, activation="tanh",
                                                 input_shape=(12, 5)),  # over the last axis
                            layers.Flatten, lambda: layers.Dense(2)], SEQUENCE, 2, {"dense": 2}),
    "stacked-lstms": ([lambda: layers.LSTM(6, return_sequences=True, input_shape=(12, 5),
                                           **SIGMOID),
                       lambda: layers.LSTM(4, return_sequences=True, go_backwards=True,
                                           **SIGMOID),
                       lambda: layers.LSTM(3, **SIGMOID)], SEQUENCE, 3, {"rnn": 3}),
    "lstm-without-bias": ([lambda: layers.LSTM(4, use_bias=False, input_shape=(12, 5),
                                               **SIGMOID)], SEQUENCE, 4, {"rnn": 1}),
    "gru-reset-after-and-simple-rnn": ([lambda: layers.GRU(5, reset_after=True,
                                                           return_sequences=True,
                                                           input_shape=(12, 5), **SIGMOID),
                                        lambda: layers.SimpleRNN(3)], SEQUENCE, 3, {"rnn": 2}),
    "masked-lstm-falls-back": ([lambda: layers.Masking(0.0, input_shape=(12, 5)),
                                lambda: layers.LSTM(4, **SIGMOID)], SEQUENCE, 4, {}),
    "hard-sigmoid-lstm-falls-back": ([lambda: layers.LSTM(4, input_shape=(12, 5))],
                                     SEQUENCE, 4, {}),
    "default-gru-falls-back": ([lambda: layers.GRU(4, input_shape=(12, 5))], SEQUENCE, 4, {}),
}


@pytest.mark.slow
@pytest.mark.parametrize("fixes", FIX_SETS[:-2] + [None], ids=FIX_IDS[:-2] + ["all"])
@pytest.mark.parametrize("name", list(OTHER_MODELS))
def test_other_models_fused_compute_as_stock(name, fixes):
    stack, x, units, changes = OTHER_MODELS[name]
    y = np.random.default_rng(5).random((len(x), units), dtype=np.float32)
    compare(sequential(*stack), x, y, "mse", fixes, changed=expect(fixes, **changes))


def test_layers_kept_as_stock_are_named_once_with_the_reason(caplog):
    caplog.set_level(logging.WARNING, logger="shim.fused")
    fused.enable()
    keras.models.Sequential([layers.LSTM(4, input_shape=(12, 5), name="gates"),
                             layers.Dense(1)]).compile("sgd", "mse")
    masked = keras.models.Sequential([layers.Masking(0.0, input_shape=(12, 5)),
                                      layers.LSTM(4, name="masked", **SIGMOID)])
    masked.compile("sgd", "mse")
    lines = [r.getMessage() for r in caplog.records if r.name == "shim.fused"]
    assert lines == [
        "gates: recurrent_activation='hard_sigmoid' has no fused kernel; kept as stock",
        "masked: its input is masked, which the fused operator does not read; kept as stock"]
    kept = {r["layer"]: r for r in fused.layers() if not r["fused"]}
    assert set(kept) == {"gates", "masked"} and kept["gates"]["fix"] == "rnn"


def test_importing_the_shim_alone_builds_stock_graphs_and_disable_restores_them():
    x, _ = mnist_batch()
    stock = build(lenet.build, False, "categorical_crossentropy", lambda: "sgd", ["cpu(0)"])
    assert convolutions_with_bias(stock) == 0 and fused.enabled() == ()
    fused.enable(["bias"])
    assert fused.enabled() == ("bias",)
    fused.disable()
    again = build(lenet.build, False, "categorical_crossentropy", lambda: "sgd", ["cpu(0)"])
    assert convolutions_with_bias(again) == 0
    assert operators(again) == operators(stock)


@pytest.mark.parametrize("bad", [["relu"], ["bias", "rnn", "nope"], "bias+lstm", []])
def test_unknown_fix_is_refused_naming_the_accepted_ones(bad):
    with pytest.raises(ValueError, match="use 'all' or one or more of " + ", ".join(fused.FIXES)):
        fused.enable(bad)
    assert fused.enabled() == ()


def test_parse_reads_arm_suffixes():
    assert fused.parse("all") == tuple(fused.FIXES)
    assert fused.parse("rnn+bias") == ("bias", "rnn")
    with pytest.raises(ValueError, match="'lstm'"):
        fused.parse("lstm")


@pytest.mark.slow
def test_copies_fix_leaves_no_openmp_team_on_the_python_thread(tmp_path):
    # keras-mxnet copies LeNet's 1.2M-weight Dense kernel and big batches with an OpenMP loop on
    # the Python thread; with the copies fix that thread starts no team (tests/test_arrays.py
    # has the mechanism and its control).
    from tests.test_shim import run_fresh

    code = """
        import os, time, numpy as np
        from shim.keras_mxnet import keras
        from shim import fused
        import mxnet as mx
        mx.nd.ones(8).wait_to_read()  # the engine's own threads start with its first operator
        if {fixed}:
            fused.enable(['copies'])
        from keras_models import lenet
        before = len(os.listdir('/proc/self/task'))
        model = lenet.build()
        model.compile('sgd', 'categorical_crossentropy')
        x = np.random.rand(512, 1, 28, 28).astype(np.float32)
        model.train_on_batch(x, keras.utils.to_categorical(np.zeros(512), 10))
        mx.nd.waitall()
        time.sleep(0.5)  # a finished copier thread's team exits a moment after it
        print(len(os.listdir('/proc/self/task')) - before)
    """
    env = {"OMP_NUM_THREADS": "2"}  # a team of two: the calling thread and one more
    stock = int(run_fresh(code.format(fixed=False), home=tmp_path, env=env).split()[-1])
    fixed = int(run_fresh(code.format(fixed=True), home=tmp_path, env=env).split()[-1])
    assert fixed < stock, (stock, fixed)


@pytest.mark.parametrize("saved_fused", [True, False], ids=["fused-to-stock", "stock-to-fused"])
def test_h5_from_one_path_loads_in_the_other_and_predicts_the_same(tmp_path, saved_fused):
    x, y = imdb_batch()
    builder = lambda: rnn.build(SHORT_RNN)
    first = build(builder, None if saved_fused else False, SHORT_RNN.loss, lambda: "adam",
                  ["cpu(0)"])
    first.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "model.h5")
    first.save(path)
    expected = first.predict(x)
    if not saved_fused:
        fused.enable()
    try:
        loaded = keras.models.load_model(path)
    finally:
        fused.disable()
    assert (operators(loaded).get("RNN", 0) == 1) == (not saved_fused)
    np.testing.assert_allclose(loaded.predict(x), expected, **TOLERANCE)


@pytest.mark.slow
@needs_bfloat16
def test_fused_models_compile_and_train_under_bfloat16_amp(tmp_path):
    # Under AMP, FullyConnected and Convolution return bfloat16, which keras-mxnet's dtype code
    # cannot name: compile failed ("Unsupported dtype") until the fused outputs were cast back.
    from tests.test_shim import run_fresh

    out = run_fresh("""
        import dataclasses, numpy as np
        from shim import precision
        precision.use("bfloat16")
        from shim.keras_mxnet import keras
        from shim import fused
        import scenarios
        from keras_models import rnn
        fused.enable()
        model = rnn.build(dataclasses.replace(scenarios.RNN, sequence_length=40))
        model.compile("adam", "binary_crossentropy")
        x = np.random.default_rng(0).integers(0, 5000, (8, 40))
        loss = model.train_on_batch(x, np.ones((8, 1), np.float32))
        print(sorted({r["fix"] for r in fused.layers() if r["fused"]}), float(loss))
    """, home=tmp_path)
    fixes, loss = out.strip().splitlines()[-1].rsplit(" ", 1)
    assert fixes == "['bias', 'conv1d', 'dense', 'rnn']" and np.isfinite(float(loss))
