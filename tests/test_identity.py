"""A layer that returns its input unchanged builds, predicts and trains (shim/identity.py)."""
import numpy as np
import pytest

from shim.keras_mxnet import keras
from keras import layers

X = np.random.default_rng(0).random((4, 5), dtype=np.float32)


@pytest.mark.parametrize("make", [lambda: layers.Activation("linear"),
                                  lambda: layers.ActivityRegularization(l1=0.0, l2=0.0)],
                         ids=["Activation-linear", "ActivityRegularization"])
def test_layers_returning_their_input_build_predict_and_train(make):
    # Stock: K.identity evaluated the Dense's output without the model's input: MXNetError
    # "InferShape pass cannot decide shapes" at build, whichever layer came first.
    inputs = layers.Input(shape=(5,))
    dense = layers.Dense(3)
    model = keras.models.Model(inputs, make()(dense(inputs)))
    rng = np.random.default_rng(1)
    kernel, bias = [rng.normal(0, 1, w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights([kernel, bias])
    expected = X @ kernel + bias
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-6)
    # The identity passes the gradient through: one SGD step on the mean squared error
    # (target 0) moves the Dense's kernel by 2 / N x^T y.
    model.compile(keras.optimizers.SGD(lr=0.1), "mse")
    model.train_on_batch(X, np.zeros_like(expected))
    grad = 2 * X.T @ expected / expected.size
    np.testing.assert_allclose(model.get_weights()[0], kernel - 0.1 * grad, rtol=1e-4, atol=1e-6)


def test_a_variable_is_still_copied_with_its_value():
    K = keras.backend
    variable = K.variable(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(K.eval(K.identity(variable)), K.eval(variable))
