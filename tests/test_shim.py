"""keras-mxnet through the shim: Keras's public API, exercised broadly on Python 3.11."""
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

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
        layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(1, 8, 8),
                      data_format="channels_first"),
        layers.MaxPooling2D(2, data_format="channels_first"),
        layers.BatchNormalization(axis=1),
        layers.Flatten(data_format="channels_first"),
        layers.Dropout(0.1),
        layers.Dense(3, activation="softmax"),
    ])


def run_fresh(code, home, env=None):
    """`code` in a fresh interpreter, with HOME (and so ~/.keras/keras.json) of its own."""
    environment = {k: v for k, v in os.environ.items()
                   if not k.startswith(("KERAS_", "MXNET_"))}
    environment.update(HOME=str(home), PYTHONPATH=str(ROOT), **(env or {}))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=ROOT, env=environment, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_import_keeps_keras_defaults_and_the_environment(tmp_path):
    # A fresh HOME: no keras.json, so Keras's own defaults. Only KERAS_BACKEND may change.
    out = run_fresh("""
        import json, os
        before = dict(os.environ)
        from shim.keras_mxnet import keras
        K = keras.backend
        changed = sorted(k for k in set(before) | set(os.environ)
                         if before.get(k) != os.environ.get(k))
        import collections, collections.abc
        aliases = collections.Iterable is collections.abc.Iterable
        print(json.dumps([K.backend(), K.image_data_format(), K.floatx(), K.epsilon(), changed,
                          aliases]))
    """, tmp_path, env={"MXNET_ENGINE_TYPE": "ThreadedEnginePerDevice"})
    assert json.loads(out.splitlines()[-1]) == ["mxnet", "channels_last", "float32", 1e-7,
                                                ["KERAS_BACKEND"], True]


@pytest.mark.slow
def test_import_keeps_the_users_keras_json(tmp_path):
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text(json.dumps(
        {"floatx": "float64", "epsilon": 1e-5, "backend": "mxnet",
         "image_data_format": "channels_first"}))
    out = run_fresh("""
        from shim.keras_mxnet import keras
        K = keras.backend
        print(K.image_data_format(), K.floatx(), K.epsilon())
    """, tmp_path)
    assert out.splitlines()[-1] == "channels_first float64 1e-05"


def test_every_change_the_shim_lists_names_tests_that_exist():
    import shim.keras_mxnet

    listed = shim.keras_mxnet.__doc__.split("Checked and left alone")[0]
    entries = ["- " + e for e in listed.split("\n- ")[1:]]
    assert len(entries) >= 10
    defined = set()
    for path in (ROOT / "tests").glob("test_*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", path.read_text(), re.M))
    for entry in entries:
        named = re.findall(r"\btest_\w+", entry.split("Tests:")[-1])
        assert "Tests:" in entry and named, entry
        assert set(named) <= defined, set(named) - defined


# User models written for stock keras-mxnet (channels_last, Keras's default): the same outputs
# through the shim as in a plain keras-mxnet process, whose only help is the `collections`
# aliases without which keras 2.2.4 doesn't import on Python 3.11.
STOCK_USER_MODELS = """
    import sys
    import numpy as np
    if sys.argv[1] == 'plain':
        import collections, collections.abc, os
        for name in ('Iterable', 'Mapping', 'MutableMapping', 'Sequence', 'Callable'):
            setattr(collections, name, getattr(collections.abc, name))
        os.environ['KERAS_BACKEND'] = 'mxnet'
        import keras
    else:
        from shim.keras_mxnet import keras
    from keras import layers

    def model(*stack):
        m = keras.models.Sequential(list(stack))
        rng = np.random.default_rng(0)
        m.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in m.get_weights()])
        return m

    rng = np.random.default_rng(1)
    sequence = rng.random((3, 16, 5), dtype=np.float32)  # (batch, steps, features)
    image = rng.random((3, 9, 9, 4), dtype=np.float32)   # (batch, rows, cols, channels)
    outputs = {
        'conv1d_valid': model(layers.Conv1D(6, 3, input_shape=(16, 5))).predict(sequence),
        'conv1d_causal_dilated': model(layers.Conv1D(6, 3, padding='causal', dilation_rate=2,
                                                     input_shape=(16, 5))).predict(sequence),
        'conv1d_same_dilated': model(layers.Conv1D(6, 3, padding='same', dilation_rate=3,
                                                   input_shape=(16, 5))).predict(sequence),
        'separable_conv2d_dilated': model(layers.SeparableConv2D(
            5, 3, dilation_rate=2, input_shape=(9, 9, 4))).predict(image),
        'conv2d_transpose': model(layers.Conv2DTranspose(
            3, 3, strides=2, input_shape=(9, 9, 4))).predict(image),
        'conv2d_pool_flatten': model(layers.Conv2D(2, 3, input_shape=(9, 9, 4)),
                                     layers.MaxPooling2D(2), layers.Flatten()).predict(image),
    }
    np.savez(sys.argv[2], **outputs)
"""


@pytest.mark.slow
def test_user_models_written_for_stock_keras_compute_as_stock(tmp_path):
    script = tmp_path / "user_models.py"
    script.write_text(textwrap.dedent(STOCK_USER_MODELS))
    results = {}
    for mode in ("plain", "shim"):
        home = tmp_path / mode
        home.mkdir()
        environment = {k: v for k, v in os.environ.items()
                       if not k.startswith(("KERAS_", "MXNET_"))}
        environment.update(HOME=str(home), PYTHONPATH=str(ROOT))
        done = subprocess.run([sys.executable, str(script), mode, str(home / "out.npz")],
                              capture_output=True, text=True, cwd=ROOT, env=environment,
                              timeout=120)
        assert done.returncode == 0, f"{mode}: {done.stderr[-3000:]}"
        results[mode] = dict(np.load(home / "out.npz"))
    assert set(results["plain"]) == set(results["shim"]) and len(results["plain"]) == 6
    # channels_last shapes: the layouts stock Keras gives these inputs
    assert results["plain"]["conv1d_valid"].shape == (3, 14, 6)
    assert results["plain"]["conv1d_causal_dilated"].shape == (3, 16, 6)
    assert results["plain"]["conv2d_transpose"].shape == (3, 19, 19, 3)
    for name, expected in results["plain"].items():
        np.testing.assert_array_equal(results["shim"][name], expected, err_msg=name)


def test_causal_dilated_conv1d_matches_numpy():
    # The reference the plain process is checked against above, by hand: out[t] =
    # sum_k x[t - (2 - k) * dilation] . W[k] + b, zeros before the start.
    rng = np.random.default_rng(3)
    x = rng.random((2, 10, 3), dtype=np.float32)
    kernel = rng.normal(0, 0.5, (3, 3, 4)).astype(np.float32)
    bias = rng.normal(0, 0.5, 4).astype(np.float32)
    model = keras.models.Sequential([layers.Conv1D(4, 3, padding="causal", dilation_rate=2,
                                                   input_shape=(10, 3))])
    model.set_weights([kernel, bias])
    padded = np.concatenate([np.zeros((2, 4, 3), np.float32), x], axis=1)
    expected = np.stack([sum(padded[:, t + 2 * k] @ kernel[k] for k in range(3)) + bias
                         for t in range(10)], axis=1)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
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


def constant_kernel_model():
    kernel = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    return keras.models.Sequential([layers.Dense(
        3, input_shape=(2,), kernel_initializer=keras.initializers.Constant(kernel))]), kernel


def test_yaml_config_with_a_numpy_array_round_trips():
    model, kernel = constant_kernel_model()
    text = model.to_yaml()
    assert "numpy.core.multiarray._reconstruct" in text and "numpy.dtype" in text
    rebuilt = keras.models.model_from_yaml(text)
    value = rebuilt.layers[0].kernel_initializer.value
    assert isinstance(value, np.ndarray) and value.dtype == np.float32
    np.testing.assert_array_equal(value, kernel)
    np.testing.assert_array_equal(rebuilt.get_weights()[0], kernel)


@pytest.mark.parametrize("payload", [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:os.system ['touch {marker}']",
    "value: !!python/name:os.system ''",
    # numpy's reconstruct tag, but handed another callable
    "!!python/object/apply:numpy.core.multiarray._reconstruct\n"
    "  args: [!!python/name:subprocess.getoutput '', 'touch {marker}', !!binary 'Yg==']",
    "!!python/object/apply:numpy.core.multiarray._reconstruct\n"
    "  args: [!!python/name:os.system '', 'touch {marker}', !!binary 'Yg==']",
    # an object array would hold arbitrary Python objects
    "!!python/object/apply:numpy.dtype {{args: [O8, false, true]}}",
])
def test_yaml_naming_any_other_python_object_is_refused_and_runs_nothing(tmp_path, payload):
    import yaml

    marker = tmp_path / "ran"
    with pytest.raises(yaml.constructor.ConstructorError, match="refusing|plain numpy.ndarray"):
        yaml.load(payload.format(marker=marker))
    with pytest.raises(yaml.constructor.ConstructorError):
        keras.models.model_from_yaml(payload.format(marker=marker))
    assert not marker.exists()


def test_hdf5_attributes_come_back_as_written(tmp_path):
    import h5py
    from keras.utils.io_utils import H5Dict

    path = str(tmp_path / "attrs.h5")
    with h5py.File(path, "w") as f:
        store = H5Dict(f)
        store["text"] = "abcd"        # a str: comes back a str (h5py 3 alone does this too)
        store["raw"] = b"abcd"        # keras's own writes are bytes, then .decode('utf8')
        f.attrs["names"] = np.array([b"dense_1", b"dense_2"])
        f.attrs["texts"] = np.array(["a", "bc"], dtype=h5py.string_dtype())
        f.attrs["number"] = 3
    with h5py.File(path, "r") as f:
        store = H5Dict(f, mode="r")
        assert store["text"] == "abcd"
        assert store["raw"] == b"abcd"
        assert [n.decode("utf8") for n in f.attrs["names"]] == ["dense_1", "dense_2"]
        assert f.attrs["texts"].tolist() == ["a", "bc"]
        assert f.attrs["number"] == 3


def lstm_model(unroll):
    model = keras.models.Sequential([layers.Embedding(50, 8, input_length=12),
                                     layers.LSTM(6, unroll=unroll),
                                     layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model


def fit_and_compare_weights(unroll):
    """(get_weights() after fit == the trained weights in MXNet's module, per weight;
    the same, before fit)."""
    model = lstm_model(unroll)
    rng = np.random.default_rng(4)
    x = rng.integers(0, 50, (32, 12))
    y = rng.integers(0, 2, 32).astype(np.float32)
    initial = model.get_weights()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    trained, _ = model._module.get_params()
    after = model.get_weights()
    return model, x, [np.array_equal(a, trained[w.name].asnumpy())
                      for w, a in zip(model.weights, after)], \
        [np.array_equal(a, i) for a, i in zip(after, initial)]


def test_unrolled_lstm_get_weights_and_save_give_the_trained_weights(tmp_path):
    # keras-mxnet's get_weights() returned an LSTM's initial weights after fit with its foreach
    # loop (next test); with unroll=True, as the benchmark builds it, they were the trained ones.
    model, x, current, unchanged = fit_and_compare_weights(unroll=True)
    assert all(current) and not any(unchanged)
    path = str(tmp_path / "lstm.h5")
    model.save(path)
    np.testing.assert_array_equal(keras.models.load_model(path).predict(x), model.predict(x))


def test_default_lstm_get_weights_give_the_trained_weights():
    # Stock keras-mxnet's foreach LSTM trained zeros and reported its initial weights
    # (shim/recurrent.py); through the shim the default LSTM trains and reports its own.
    _, _, current, unchanged = fit_and_compare_weights(unroll=False)
    assert all(current) and not any(unchanged)
