"""Every model's weights are its own and current, not only the last compiled's (shim/weights.py)."""
import numpy as np

from shim.keras_mxnet import keras
from keras import layers

K = keras.backend

RNG = np.random.default_rng(0)
X = RNG.random((16, 5), dtype=np.float32)


def mlp(weights=None):
    model = keras.models.Sequential([layers.Dense(4, activation="tanh", input_shape=(5,)),
                                     layers.Dense(2)])
    model.compile(keras.optimizers.SGD(lr=0.5), "mse")
    if weights is not None:
        model.set_weights(weights)
    return model


def predicts_as_its_weights(model):
    """What a fresh model given model.get_weights() predicts is what the model predicts."""
    fresh = mlp(model.get_weights())
    np.testing.assert_allclose(fresh.predict(X), model.predict(X), rtol=1e-6, atol=1e-6)


def test_two_models_alternately_compiled_trained_read_and_saved_give_their_own_weights(tmp_path):
    # Stock keras-mxnet synced only its last compiled model: `first`'s get_weights were those
    # from before its training (tests below fail without shim/weights.py).
    first = mlp()
    second = mlp(first.get_weights())
    y = RNG.random((16, 2), dtype=np.float32)
    for rounds in range(2):
        first.compile(keras.optimizers.SGD(lr=0.5), "mse")
        first.fit(X, y, batch_size=4, epochs=1, verbose=0)
        second.compile(keras.optimizers.SGD(lr=0.1), "mse")
        second.fit(X, -y, batch_size=8, epochs=1, verbose=0)
        first.train_on_batch(X, y)
        predicts_as_its_weights(first)
        predicts_as_its_weights(second)
    for model in (first, second):
        trained, _ = model._module.get_params()
        for weight, value in zip(model.weights, model.get_weights()):
            np.testing.assert_array_equal(value, trained[weight.name].asnumpy())
        path = str(tmp_path / f"{model.name}.h5")
        model.save(path)
        np.testing.assert_array_equal(keras.models.load_model(path).predict(X), model.predict(X))
    assert np.abs(first.predict(X) - second.predict(X)).max() > 0.1


def test_set_weights_reach_a_model_that_is_not_the_last_compiled():
    first = mlp()
    first.predict(X)          # bound
    mlp()                     # compiled last
    weights = [RNG.normal(0, 1, w.shape).astype(np.float32) for w in first.get_weights()]
    first.set_weights(weights)
    np.testing.assert_allclose(first.predict(X), mlp(weights).predict(X), rtol=1e-6, atol=1e-6)


def test_models_sharing_layers_train_one_set_of_weights():
    # A GAN's pattern: the discriminator alone and inside the combined model share its layer;
    # training either must be seen by the other (stock: each trained its own copy).
    generator_layer, discriminator_layer = layers.Dense(3), layers.Dense(1)
    z = layers.Input((2,))
    combined = keras.models.Model(z, discriminator_layer(generator_layer(z)))
    h = layers.Input((3,))
    discriminator = keras.models.Model(h, discriminator_layer(h))
    for model in (combined, discriminator):
        model.compile(keras.optimizers.SGD(lr=0.5), "mse")
    noise, hidden = RNG.random((8, 2), dtype=np.float32), RNG.random((8, 3), dtype=np.float32)

    def by_numpy():
        (wg, bg), (wd, bd) = generator_layer.get_weights(), discriminator_layer.get_weights()
        return (noise @ wg + bg) @ wd + bd

    combined.predict(noise)
    discriminator.train_on_batch(hidden, np.ones((8, 1), np.float32))
    np.testing.assert_allclose(combined.predict(noise), by_numpy(), rtol=1e-5, atol=1e-6)
    combined.train_on_batch(noise, np.zeros((8, 1), np.float32))
    wd, bd = discriminator_layer.get_weights()
    np.testing.assert_allclose(discriminator.predict(hidden), hidden @ wd + bd, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(combined.predict(noise), by_numpy(), rtol=1e-5, atol=1e-6)


def test_stateful_states_are_carried_and_read_back_after_predict():
    # An uncompiled model's prediction applied no state update (its states never moved), and a
    # state written by a prediction never reached K.eval / get_weights (the Module's cache of
    # its parameters stayed clean).
    for compiled in (False, True):
        inputs = layers.Input(batch_shape=(2, 4, 3))
        layer = layers.LSTM(5, return_state=True, stateful=True)
        model = keras.models.Model(inputs, layer(inputs)[2])   # the cell state
        if compiled:
            model.compile(keras.optimizers.SGD(lr=0.1), "mse")
        x = RNG.random((2, 4, 3), dtype=np.float32)
        first = model.predict(x)
        np.testing.assert_allclose(K.eval(layer.states[1]), first, rtol=1e-6, atol=1e-6)
        second = model.predict(x)          # from the carried state, not from zeros
        assert np.abs(second - first).max() > 1e-3
        layer.reset_states()
        np.testing.assert_allclose(model.predict(x), first, rtol=1e-5, atol=1e-6)
