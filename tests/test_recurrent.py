"""Keras's default recurrent layers (unroll=False) compute Keras's function through the shim
(shim/recurrent.py); stock keras-mxnet's did not."""
import numpy as np
import pytest

from shim.keras_mxnet import keras
from keras import layers

from tests.test_shim import run_fresh

K = keras.backend


def weights_like(model, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()]


def module_weights(model):
    args, _ = model._module.get_params()
    return [args[w.name].asnumpy() for w in model.weights]


def sequential(*stack):
    model = keras.models.Sequential(list(stack))
    model.compile(keras.optimizers.SGD(lr=0.1), "mse")
    return model


@pytest.mark.slow
def test_stock_default_lstm_ignores_its_weights():
    # The defect as keras-mxnet ships it (only the collections aliases that keras needs to
    # import at all): a fresh default LSTM predicts exactly 0, given weights or not.
    out = run_fresh("""
        import collections, collections.abc, os
        for name in ('Iterable', 'Mapping', 'MutableMapping', 'Sequence', 'Callable'):
            setattr(collections, name, getattr(collections.abc, name))
        os.environ['KERAS_BACKEND'] = 'mxnet'
        import numpy as np, keras
        m = keras.models.Sequential([keras.layers.LSTM(4, input_shape=(5, 3))])
        m.compile('sgd', 'mse')
        m.set_weights([np.full(w.shape, 0.3, np.float32) for w in m.get_weights()])
        print(float(np.abs(m.predict(np.ones((2, 5, 3), np.float32))).max()))
    """, home="/tmp")
    assert float(out.split()[-1]) == 0.0


@pytest.mark.parametrize("length", [5, None], ids=["known-length", "unknown-length"])
@pytest.mark.parametrize("layer, options", [
    (layers.LSTM, {}),                                   # Keras's default: hard_sigmoid, impl 1
    (layers.LSTM, {"implementation": 2, "recurrent_activation": "sigmoid"}),
    (layers.LSTM, {"go_backwards": True, "return_sequences": True}),
    (layers.GRU, {}),
    (layers.SimpleRNN, {}),
], ids=["lstm", "lstm-impl2-sigmoid", "lstm-backwards-sequences", "gru", "simple-rnn"])
def test_default_recurrent_layer_predicts_and_trains_as_unrolled(layer, options, length):
    rng = np.random.default_rng(0)
    x, y = rng.random((4, 5, 3), dtype=np.float32), rng.random((4, 4), dtype=np.float32)
    default = sequential(layer(4, input_shape=(length, 3), **options))
    unrolled = sequential(layer(4, input_shape=(5, 3), unroll=True, **options))
    weights = weights_like(default, 1)
    default.set_weights(weights)
    unrolled.set_weights(weights)
    predicted = default.predict(x)
    assert np.abs(predicted).max() > 0.05
    np.testing.assert_allclose(predicted, unrolled.predict(x), rtol=1e-5, atol=1e-6)
    if not options.get("return_sequences"):
        default.train_on_batch(x, y)
        unrolled.train_on_batch(x, y)
        for a, b in zip(module_weights(default), module_weights(unrolled)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_implementation_1_gives_each_gate_its_own_bias():
    # keras-mxnet's foreach step added bias_i to all four gates; a bias on the forget gate
    # alone must change what the default LSTM predicts, as it does unrolled.
    x = np.random.default_rng(2).random((2, 5, 3), dtype=np.float32)
    model = sequential(layers.LSTM(4, input_shape=(5, 3), implementation=1))
    kernel, recurrent, bias = weights_like(model, 3)
    bias[:] = 0
    model.set_weights([kernel, recurrent, bias])
    before = model.predict(x)
    bias[4:8] = 2.0  # the forget gate's bias
    model.set_weights([kernel, recurrent, bias])
    assert np.abs(model.predict(x) - before).max() > 1e-3


def test_stacked_recurrent_layers_build_and_match_unrolled():
    # keras-mxnet built the second layer's zero state as (1, N x units): it could not be built.
    x = np.random.default_rng(4).random((3, 5, 3), dtype=np.float32)
    stack = [sequential(layers.LSTM(4, return_sequences=True, input_shape=(5, 3), unroll=unroll),
                        layers.LSTM(6, unroll=unroll), layers.Dense(1)) for unroll in (False, True)]
    weights = weights_like(stack[0], 5)
    for model in stack:
        model.set_weights(weights)
    np.testing.assert_allclose(stack[0].predict(x), stack[1].predict(x), rtol=1e-5, atol=1e-6)


def test_masked_default_lstm_matches_unrolled():
    x = np.random.default_rng(6).random((3, 5, 3), dtype=np.float32)
    x[0, 3:] = 0  # masked steps
    models = [sequential(layers.Masking(0.0, input_shape=(length, 3)),
                         layers.LSTM(4, unroll=length is not None)) for length in (None, 5)]
    weights = weights_like(models[0], 7)
    for model in models:
        model.set_weights(weights)
    np.testing.assert_allclose(models[0].predict(x), models[1].predict(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [layers.LSTM, layers.GRU, layers.SimpleRNN],
                         ids=["lstm", "gru", "simple-rnn"])
def test_recurrent_dropout_builds_and_predicts_without_dropout(layer):
    # keras-mxnet reused the training trace's dropout mask in the inference trace, where it has
    # no graph: no recurrent layer with dropout could be built ("[Debug Info] <Symbol ...>").
    x = np.random.default_rng(8).random((4, 5, 3), dtype=np.float32)
    y = np.zeros((4, 4), np.float32)
    dropped = sequential(layer(4, input_shape=(5, 3), dropout=0.5, recurrent_dropout=0.5))
    plain = sequential(layer(4, input_shape=(5, 3)))
    weights = weights_like(plain, 9)
    for model in (dropped, plain):
        model.set_weights(weights)
    np.testing.assert_allclose(dropped.predict(x), plain.predict(x), rtol=1e-5, atol=1e-6)
    assert abs(dropped.train_on_batch(x, y) - plain.train_on_batch(x, y)) > 1e-4


def test_cell_that_is_not_a_layer_computes_with_its_variables():
    # Keras takes any object with call() and state_size as a cell; the default loop asked it
    # for `weights`, which only a Layer has.
    class MinimalCell(object):
        state_size = 2

        def __init__(self):
            self.kernel = K.variable(np.array([[0.5, -1.0], [2.0, 0.25]], np.float32))

        def call(self, inputs, states):
            output = K.dot(inputs, self.kernel) + states[0]
            return output, [output]

    cell = MinimalCell()
    inputs = keras.Input((None, 2))
    model = keras.models.Model(inputs, layers.RNN(cell)(inputs))
    x = np.random.default_rng(10).random((3, 4, 2), dtype=np.float32)
    expected = x.sum(axis=1) @ K.eval(cell.kernel)   # a linear recurrence: the sum of the steps
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)
