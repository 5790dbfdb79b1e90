"""Negative axes resolve against the tensor's real rank where MXNet can't infer its shape with an
unknown batch (shim/shapes.py): Bidirectional's default concatenation among them."""
import numpy as np
import pytest

from shim.keras_mxnet import keras
from keras import layers

K = keras.backend
X = np.random.default_rng(0).random((4, 5, 3), dtype=np.float32)


def weights_like(model, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.4, w.shape).astype(np.float32) for w in model.get_weights()]


def one_direction(layer, sequences, unroll, weights, backwards):
    model = keras.models.Sequential([layer(6, input_shape=(5, 3), return_sequences=sequences,
                                           unroll=bool(unroll), go_backwards=backwards)])
    model.set_weights(weights)
    output = model.predict(X)
    return output[:, ::-1] if backwards and sequences else output


@pytest.mark.parametrize("unroll", [False, True, None],
                         ids=["default", "unrolled", "unknown-length"])
@pytest.mark.parametrize("sequences", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("layer", [layers.LSTM, layers.GRU], ids=["lstm", "gru"])
def test_bidirectional_concat_is_both_directions_side_by_side(layer, sequences, unroll):
    # Stock: the two directions were concatenated along the batch, and the Dense after them
    # failed to bind ("dot shape error: [32,6] X [12,3]").
    # unroll None: the default loop over an unknown number of steps (contrib.foreach)
    model = keras.models.Sequential([
        layers.Bidirectional(layer(6, return_sequences=sequences, unroll=bool(unroll)),
                             input_shape=(5 if unroll is not None else None, 3)),
        layers.Dense(2)])
    model.compile(keras.optimizers.SGD(lr=0.1), "mse")
    weights = weights_like(model, 1)
    model.set_weights(weights)
    half = len(weights[:-2]) // 2
    both = np.concatenate([
        one_direction(layer, sequences, unroll, weights[:half], backwards=False),
        one_direction(layer, sequences, unroll, weights[half:-2], backwards=True)], axis=-1)
    expected = both @ weights[-2] + weights[-1]
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-5)
    y = np.zeros(expected.shape, np.float32)
    assert model.train_on_batch(X, y) > model.train_on_batch(X, y)


def test_backend_negative_axes_on_a_tensor_without_a_keras_shape():
    # A recurrent layer's `call` output carries no _keras_shape and MXNet infers no shape for
    # it with the batch unknown: ndim was 0, and axis -1 meant axis 0.
    inputs = layers.Input((5, 3))
    lstm = layers.LSTM(6, unroll=True)
    lstm.build((None, 5, 3))
    output = lstm.call(inputs)
    assert K.ndim(output) == 2 and K.int_shape(output)[1:] == (6,)
    joined = K.concatenate([output, output], axis=-1)
    expanded = K.expand_dims(output)
    for tensor, shape in ((joined, (0, 12)), (expanded, (0, 6, 1))):
        assert tensor.symbol.infer_shape(**{inputs.name: (4, 5, 3)})[1][0][1:] == shape[1:]


@pytest.mark.parametrize("unroll", [False, True], ids=["default", "unrolled"])
def test_sequence_output_trains_on_its_mean_loss(unroll):
    # Keras averages a 3-D output's per-timestep losses over the axes from the sample weights'
    # rank to ndim(loss): with ndim 0 nothing was averaged, and the loss of an LSTM's sequences
    # (return_sequences=True) through Dense couldn't be weighed ("shapes [4,5] [4]").
    model = keras.models.Sequential([
        layers.LSTM(6, return_sequences=True, unroll=unroll, input_shape=(5, 3)),
        layers.Dense(2)])
    model.compile(keras.optimizers.SGD(lr=0.1), "mse")
    model.set_weights(weights_like(model, 2))
    y = np.random.default_rng(3).random((4, 5, 2), dtype=np.float32)
    expected = np.mean((model.predict(X) - y) ** 2)
    np.testing.assert_allclose(model.train_on_batch(X, y), expected, rtol=1e-5)


@pytest.mark.parametrize("unroll", [False, True], ids=["default", "unrolled"])
def test_lstm_after_a_concatenation_mxnet_infers_wrongly(unroll):
    # babi_memnn's graph: MXNet's partial inference gives the concatenation (0, 4, 16), not
    # (0, 4, 28) (it infers nothing for the permuted sum), and the LSTM's step after it failed
    # to build ("dot shape error: [-1,16] X [28,8]"). It computes what an LSTM fed the
    # concatenation directly computes.
    story, question = layers.Input((12,)), layers.Input((4,))
    m = layers.Embedding(22, 16)(story)
    c = layers.Embedding(22, 4)(story)
    q = layers.Embedding(22, 16)(question)
    match = layers.Activation("softmax")(layers.dot([m, q], axes=(2, 2)))
    joined = layers.concatenate([layers.Permute((2, 1))(layers.add([match, c])), q])
    lstm = layers.LSTM(8, unroll=unroll)
    model = keras.models.Model([story, question], lstm(joined))
    model.set_weights(weights_like(model, 4))
    rng = np.random.default_rng(5)
    x = [rng.integers(0, 22, (3, 12)), rng.integers(0, 22, (3, 4))]
    features = keras.models.Model([story, question], joined).predict(x)
    alone = keras.models.Sequential([layers.LSTM(8, unroll=unroll, input_shape=(4, 28))])
    alone.set_weights(lstm.get_weights())
    np.testing.assert_allclose(model.predict(x), alone.predict(features), rtol=1e-5, atol=1e-6)
