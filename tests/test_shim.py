"""keras-mxnet through the shim: Keras's public API, exercised broadly on Python 3.11."""
import subprocess
import sys
from pathlib import Path

import numpy as np

from shim.keras_mxnet import keras
from keras import layers

ROOT = Path(__file__).resolve().parents[1]


def tiny_images(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 8, 8), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 3, n), 3)
    return x, y


def small_convnet():
    return keras.models.Sequential([
        layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(1, 8, 8)),
        layers.MaxPooling2D(2),
        layers.BatchNormalization(axis=1),
        layers.Flatten(),
        layers.Dropout(0.1),
        layers.Dense(3, activation="softmax"),
    ])


def test_backend_and_layout():
    assert keras.backend.backend() == "mxnet"
    assert keras.backend.image_data_format() == "channels_first"


def test_end_of_life_warning_shown_once_and_filter_not_left_behind():
    # keras/__init__.py installs an 'always' filter for DeprecationWarning, which repeats
    # warnings per layer. Checked in a fresh interpreter: pytest installs filters of its own.
    code = ("from shim.keras_mxnet import keras; import warnings; "
            "print(any(f[0] == 'always' and f[2] is DeprecationWarning for f in warnings.filters))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.strip() == "False"
    assert done.stderr.count("DeprecationWarning: MXNet support in Keras") == 1


def test_sequential_fit_evaluate_predict_and_hdf5_round_trip(tmp_path):
    x, y = tiny_images()
    model = small_convnet()
    model.compile(optimizer=keras.optimizers.SGD(lr=0.1), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=5)
    log = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[stopper, log])
    assert set(history.history) >= {"loss", "acc"}
    assert (tmp_path / "log.csv").read_text().startswith("epoch")
    loss, acc = model.evaluate(x, y, batch_size=16, verbose=0)
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0
    assert len(model.train_on_batch(x[:16], y[:16])) == 2
    before = model.predict(x, batch_size=16)

    path = str(tmp_path / "model.h5")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_array_equal(reloaded.predict(x, batch_size=16), before)

    weights_path = str(tmp_path / "weights.h5")
    model.save_weights(weights_path)
    fresh = small_convnet()
    fresh.load_weights(weights_path)
    np.testing.assert_array_equal(fresh.predict(x, batch_size=16), before)


def test_functional_model_with_lambda_survives_save_and_config(tmp_path):
    scale = 0.5  # a closure value: Lambda must rebuild its closure on load
    inputs = layers.Input(shape=(6,))
    hidden = layers.Dense(4, activation="tanh")(inputs)
    scaled = layers.Lambda(lambda t: t * scale)(hidden)
    outputs = layers.Dense(1, activation="sigmoid")(layers.concatenate([hidden, scaled]))
    model = keras.models.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(1)
    x = rng.random((32, 6), dtype=np.float32)
    y = (x.sum(axis=1) > 3).astype(np.float32)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    before = model.predict(x, batch_size=8)

    path = str(tmp_path / "functional.h5")
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path).predict(x, batch_size=8), before,
                               rtol=1e-6)

    for rebuilt in (keras.models.model_from_json(model.to_json()),
                    keras.models.model_from_yaml(model.to_yaml())):
        rebuilt.set_weights(model.get_weights())
        np.testing.assert_allclose(rebuilt.predict(x, batch_size=8), before, rtol=1e-6)


def test_recurrent_and_embedding_layers_train():
    model = keras.models.Sequential([
        layers.Embedding(50, 8, input_length=12),
        layers.Conv1D(8, 3, padding="same", activation="relu"),
        layers.MaxPooling1D(2),
        layers.LSTM(6, unroll=True),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(2)
    x = rng.integers(0, 50, (32, 12)).astype(np.int32)
    y = rng.integers(0, 2, 32).astype(np.float32)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_split=0.25)
    assert np.isfinite(history.history["val_loss"]).all()


def test_cpu_context_indices_are_honoured():
    from keras.backend import mxnet_backend
    import mxnet as mx

    assert mxnet_backend._get_mxnet_context(["cpu(0)", "cpu(1)"]) == [mx.cpu(0), mx.cpu(1)]


def sgd_step_weights(contexts):
    x, y = tiny_images(n=32, seed=3)
    model = keras.models.Sequential([layers.Flatten(input_shape=(1, 8, 8)),
                                     layers.Dense(3, activation="softmax")])
    model.set_weights([np.full((64, 3), 0.01, np.float32), np.zeros(3, np.float32)])
    model.compile(optimizer=keras.optimizers.SGD(lr=0.5), loss="categorical_crossentropy",
                  context=contexts)
    model.train_on_batch(x, y)
    return model.get_weights()[0]


def test_data_parallel_gradient_is_the_mean_over_the_global_batch():
    # Without the shim's rescale, two contexts take a step twice as long as one context.
    one = sgd_step_weights(["cpu(0)"])
    two = sgd_step_weights(["cpu(0)", "cpu(1)"])
    np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-6)
