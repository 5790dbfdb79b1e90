"""BatchNormalization through the shim computes Keras's function (shim/batchnorm.py).

Expected values are numpy formulas of Keras's definition. Which inputs get the unbiased batch
variance in the moving variance was measured with tf.keras of tensorflow-cpu 2.15.1 (the
reference): 4-D over axis 1 or 3 (TensorFlow's fused kernel, n / (n - 1)); 2-D, 3-D and 4-D over
axis 2 the biased one."""
import numpy as np
import pytest

from shim.keras_mxnet import keras
from keras import layers

from tests.test_shim import run_fresh

EPSILON = 1e-3   # Keras's default


def bn_model(shape, **options):
    model = keras.models.Sequential([layers.BatchNormalization(input_shape=shape[1:], **options)])
    model.compile(keras.optimizers.SGD(lr=0.1), "mse")
    return model


def channel_view(x, axis):
    """x with the channel axis last, flattened to (elements per channel, channels)."""
    return np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])


def broadcast(values, ndim, axis):
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(values, shape)


CASES = [((8, 3), -1), ((4, 6, 3), -1), ((4, 5, 5, 3), -1), ((4, 3, 5, 5), 1), ((4, 5, 3, 5), 2)]
CASE_IDS = ["2d", "3d", "4d-last", "4d-axis1", "4d-axis2"]


@pytest.mark.parametrize("shape, axis", CASES, ids=CASE_IDS)
def test_batchnorm_applies_its_gamma(shape, axis):
    # Stock keras-mxnet fixed gamma at 1: (x - 1) / 2 + 1 for these weights.
    x = np.random.default_rng(0).normal(1, 2, shape).astype(np.float32)
    model = bn_model(shape, axis=axis)
    model.set_weights([np.full(3, 2.0, np.float32), np.ones(3, np.float32),
                       np.ones(3, np.float32), np.full(3, 4.0, np.float32)])
    np.testing.assert_allclose(model.predict(x), 2 * (x - 1) / np.sqrt(4 + EPSILON) + 1,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape, axis", CASES, ids=CASE_IDS)
def test_batchnorm_learns_gamma_and_beta_and_updates_moving_statistics_as_keras(shape, axis):
    rng = np.random.default_rng(1)
    x = rng.normal(1, 2, shape).astype(np.float32)
    y = rng.normal(0, 1, shape).astype(np.float32)
    model = bn_model(shape, axis=axis, momentum=0.5)
    gamma, beta = np.array([2.0, 0.5, 1.5], np.float32), np.array([1.0, -1.0, 0.0], np.float32)
    model.set_weights([gamma, beta, np.ones(3, np.float32), np.full(3, 4.0, np.float32)])
    model.train_on_batch(x, y)

    # Training normalizes with the batch's biased statistics; mse's gradient is 2 (out - y) / N.
    ndim, c = len(shape), axis % len(shape)
    flat = channel_view(x, c)
    mean, var = flat.mean(axis=0), flat.var(axis=0)
    normed = (x - broadcast(mean, ndim, c)) / np.sqrt(broadcast(var, ndim, c) + EPSILON)
    out = normed * broadcast(gamma, ndim, c) + broadcast(beta, ndim, c)
    grad = 2 * (out - y) / out.size
    gamma_step = gamma - 0.1 * channel_view(grad * normed, c).sum(axis=0)
    beta_step = beta - 0.1 * channel_view(grad, c).sum(axis=0)
    n = len(flat)
    batch_var = var * n / (n - 1) if (ndim, c) in ((4, 1), (4, 3)) else var
    got = model.get_weights()
    for name, a, b in zip(["gamma", "beta", "moving_mean", "moving_variance"], got,
                          [gamma_step, beta_step, 0.5 + 0.5 * mean, 2.0 + 0.5 * batch_var]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)


def test_batchnorm_without_scale_or_center_has_keras_weights(tmp_path):
    # Keras's BatchNormalization(scale=False) has no gamma, center=False no beta; keras-mxnet
    # gave both layers 4 weights, so their h5 files did not load in Keras (nor Keras's here).
    shape = (6, 3)
    x = np.random.default_rng(2).normal(1, 2, shape).astype(np.float32)
    plain = bn_model(shape, scale=False, center=False)
    assert [w.name.split("/")[-1].rstrip("0123456789") for w in plain.weights] == [
        "moving_mean", "moving_variance"]
    plain.set_weights([np.ones(3, np.float32), np.full(3, 4.0, np.float32)])
    np.testing.assert_allclose(plain.predict(x), (x - 1) / np.sqrt(4 + EPSILON), rtol=1e-5,
                               atol=1e-6)
    centered = bn_model(shape, scale=False)
    assert len(centered.weights) == 3 and len(centered.trainable_weights) == 1
    centered.set_weights([np.full(3, 0.5, np.float32), np.ones(3, np.float32),
                          np.full(3, 4.0, np.float32)])
    centered.train_on_batch(x, x)
    path = str(tmp_path / "bn.h5")
    centered.save(path)
    np.testing.assert_array_equal(keras.models.load_model(path).predict(x), centered.predict(x))


@pytest.mark.parametrize("options", [{}, {"scale": False}, {"scale": False, "center": False}],
                         ids=["plain", "no-scale", "neither"])
def test_batchnorm_trains_and_predicts_in_float64(options):
    # floatx float64 (conformance's second judgement, verdict.py): the shim's graph made its
    # element count, and the constant gamma and beta of scale=False / center=False, in float32,
    # and a float64 model failed to bind ("expected float64, got float32").
    shape = (4, 3, 5, 5)
    x = np.random.default_rng(3).normal(1, 2, shape)
    before = keras.backend.floatx()
    keras.backend.set_floatx("float64")
    try:
        model = bn_model(shape, axis=1, **options)
        assert np.isfinite(model.train_on_batch(x, np.zeros(shape)))
        predicted = model.predict(x)
    finally:
        keras.backend.set_floatx(before)
    weights = dict(zip((w.name.split("/")[-1].rstrip("0123456789") for w in model.weights),
                       model.get_weights()))
    assert predicted.dtype == np.float64 and all(w.dtype == np.float64 for w in weights.values())
    # inference: the moving statistics after one update (momentum 0.99, the unbiased batch
    # variance over axis 1 of a 4-D input), and gamma and beta after one SGD step where held;
    # to float64 precision, which float32 anywhere in the graph would miss by 1e-7
    c = (1, -1, 1, 1)
    mean = 0.99 * 0 + 0.01 * x.mean(axis=(0, 2, 3))
    var = 0.99 * 1 + 0.01 * x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(weights["moving_mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(weights["moving_variance"], var, rtol=1e-12)
    expected = (x - mean.reshape(c)) / np.sqrt(var.reshape(c) + EPSILON) * \
        weights.get("gamma", np.ones(3)).reshape(c) + weights.get("beta", np.zeros(3)).reshape(c)
    np.testing.assert_allclose(predicted, expected, rtol=1e-10, atol=1e-12)


def test_batchnorm_training_argument_is_honoured():
    shape = (8, 3)
    x = np.random.default_rng(3).normal(1, 2, shape).astype(np.float32)
    weights = [np.full(3, 2.0, np.float32), np.ones(3, np.float32), np.ones(3, np.float32),
               np.full(3, 4.0, np.float32)]
    inputs = layers.Input(shape[1:])
    frozen = keras.models.Model(inputs, layers.BatchNormalization()(inputs, training=False))
    frozen.compile(keras.optimizers.SGD(lr=0.0), "mse")
    frozen.set_weights(weights)
    frozen.train_on_batch(x, x)   # moving statistics in training too, and left alone
    for a, b in zip(frozen.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    inputs = layers.Input(shape[1:])
    batch = keras.models.Model(inputs, layers.BatchNormalization()(inputs, training=True))
    batch.set_weights(weights)
    expected = 2 * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + EPSILON) + 1
    np.testing.assert_allclose(batch.predict(x), expected, rtol=1e-5, atol=1e-5)


def test_batchnorm_default_axis_stays_the_last_with_channels_first(tmp_path):
    # keras-mxnet turned axis -1 into 1 under a channels_first keras.json: a (steps, features)
    # input was normalized over its steps, unlike Keras (whose axis -1 is always the last).
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text(
        '{"backend": "mxnet", "image_data_format": "channels_first"}')
    out = run_fresh("""
        import numpy as np
        from shim.keras_mxnet import keras
        layer = keras.layers.BatchNormalization(input_shape=(4, 3))
        model = keras.models.Sequential([layer])
        print(layer.get_config()['axis'], [w.shape for w in model.get_weights()][0])
    """, tmp_path)
    assert out.splitlines()[-1] == "-1 (3,)"


@pytest.mark.parametrize("shape, axis", [((8, 3), -1), ((4, 5, 5, 3), -1)], ids=["2d", "4d"])
def test_batchnorm_without_weights_on_the_input_moves_its_statistics(shape, axis):
    # Nothing trainable before or in the layer: MXNet skipped its op's backward pass, where it
    # updates the moving statistics, and they stayed at 0 and 1.
    x = np.random.default_rng(4).normal(5, 10, shape).astype(np.float32)
    model = bn_model(shape, axis=axis, center=False, scale=False, momentum=0.5)
    model.train_on_batch(x, x)
    flat = channel_view(x, axis % len(shape))
    n = len(flat)
    batch_var = flat.var(axis=0) * (n / (n - 1) if len(shape) == 4 else 1)
    mean, variance = model.get_weights()
    np.testing.assert_allclose(mean, 0.5 * flat.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(variance, 0.5 + 0.5 * batch_var, rtol=1e-5, atol=1e-5)
