"""Binary cross-entropy computes Keras's function (shim/losses.py).

Keras (tf.keras 2.15): clip p to [eps, 1 - eps], then -(t log(p + eps) + (1 - t) log(1 - p +
eps)); from logits x, max(x, 0) - x t + log(1 + exp(-|x|)), unclipped. keras-mxnet took
log(p) of the clipped p (log(eps), not log(2 eps), at the clip: 0.69 apart) and clipped the
sigmoid of logits (at most -log(eps) = 16.1 for any logit)."""
import numpy as np

from shim.keras_mxnet import keras

K = keras.backend
EPS = np.float32(1e-7)


def keras_bce(t, p):
    """tf.keras 2.15's formula, in float32 as TensorFlow computes it."""
    p = np.clip(p, EPS, np.float32(1) - EPS)
    return -(t * np.log(p + EPS) + (1 - t) * np.log(np.float32(1) - p + EPS))


def evaluate(t, p, **options):
    return K.eval(K.binary_crossentropy(K.variable(t), K.variable(p), **options))


def test_binary_crossentropy_is_keras_at_the_clip_too():
    # a tanh output below eps (the mnist_acgan generator's), one inside, one tiny but inside
    p = np.array([[-0.3, 0.5, 1e-6, 0.9]], np.float32)
    t = np.array([[1.0, 1.0, 1.0, 0.0]], np.float32)
    got = evaluate(t, p)
    np.testing.assert_allclose(got, keras_bce(t, p), rtol=1e-5)
    assert abs(got[0, 0] - (-np.log(2e-7))) < 1e-3   # by hand: -log(eps + eps) = 15.42


def test_binary_crossentropy_from_logits_is_unclipped():
    x = np.array([[-30.0, -2.0, 0.0, 3.0, 40.0]], np.float32)
    t = np.array([[1.0, 0.0, 1.0, 1.0, 0.0]], np.float32)
    expected = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))   # 30 and 40 at the ends
    np.testing.assert_allclose(evaluate(t, x, from_logits=True), expected, rtol=1e-6, atol=1e-6)


def test_the_binary_crossentropy_loss_uses_it():
    p = np.array([[-0.3, 0.5]], np.float32)
    t = np.array([[1.0, 0.0]], np.float32)
    got = K.eval(keras.losses.binary_crossentropy(K.variable(t), K.variable(p)))
    np.testing.assert_allclose(got, keras_bce(t, p).mean(axis=-1), rtol=1e-5)
