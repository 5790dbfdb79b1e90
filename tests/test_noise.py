"""Noise layers build, add their noise in training only, and dropout's noise_shape shares its
mask (shim/noise.py). Expected values are numpy formulas of Keras's definitions."""
import mxnet as mx
import numpy as np
import pytest

from shim.keras_mxnet import keras
from keras import layers

K = keras.backend
X = np.random.default_rng(0).normal(0, 1, (256, 40)).astype(np.float32)


def training_loss(*stack, x=X):
    """The mse against 0 of the model's training-phase output (SGD with lr 0: nothing moves),
    and the model."""
    model = keras.models.Sequential(list(stack))
    model.compile(keras.optimizers.SGD(lr=0.0), "mse")
    mx.random.seed(1)
    target = np.zeros((len(x),) + model.output_shape[1:], np.float32)
    return float(model.train_on_batch(x, target)), model


@pytest.mark.parametrize("layer, expected", [
    # GaussianNoise(s): x + N(0, s): E[out^2] = x^2 + s^2
    (lambda: layers.GaussianNoise(0.5, input_shape=(40,)), lambda m2: m2 + 0.25),
    # GaussianDropout(r): x * N(1, r / (1 - r)): E[out^2] = x^2 (1 + r / (1 - r))
    (lambda: layers.GaussianDropout(0.5, input_shape=(40,)), lambda m2: m2 * 2),
    # AlphaDropout keeps the mean and variance of a standard normal input
    (lambda: layers.AlphaDropout(0.2, input_shape=(40,)), lambda m2: m2),
], ids=["gaussian-noise", "gaussian-dropout", "alpha-dropout"])
def test_noise_layers_add_noise_in_training_only(layer, expected):
    # Stock: none of them could be built (a random tensor of shape (0, 40)); once built, the
    # noise also went into predict (K.in_train_phase chose the training branch for both).
    loss, model = training_loss(layer())
    np.testing.assert_array_equal(model.predict(X), X)
    mean_square = float(np.mean(X.astype(np.float64) ** 2))
    np.testing.assert_allclose(loss, expected(mean_square), rtol=0.05)
    mx.random.seed(1)
    assert model.train_on_batch(X, X) > 0.01   # noise in training (AlphaDropout: same moments)


def test_spatial_dropout_drops_whole_channels():
    # Stock ignored noise_shape: single elements were dropped, not channels. Summed over the
    # steps, a kept channel of ones gives 2 x 10 = 20 and a dropped one 0; each sample-channel
    # squared is 0 or 400, so the mean loss is 400 k / 48 for some whole k.
    ones = np.ones((8, 10, 6), np.float32)
    loss, model = training_loss(layers.SpatialDropout1D(0.5, input_shape=(10, 6)),
                                layers.Lambda(lambda t: K.sum(t, axis=1)), x=ones)
    kept = loss * 48 / 400
    assert abs(kept - round(kept)) < 1e-3 and 0 < round(kept) < 48
    np.testing.assert_allclose(model.predict(ones), np.full((8, 6), 10.0), rtol=1e-6)


def test_random_tensor_of_an_unknown_shape_is_refused_in_one_line():
    with pytest.raises(ValueError, match="unknown dimension; pass K.shape"):
        K.random_normal((None, 3))
    with pytest.raises(ValueError, match="noise_shape"):
        K.dropout(layers.Input((4, 3)), 0.5, noise_shape=(None, 2, 3))
    K.dropout(layers.Input((2,)), 0.5, noise_shape=(3, 1))   # a batch size: unknown till run
