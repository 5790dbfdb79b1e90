"""UpSampling2D(interpolation='bilinear') computes Keras's bilinear resize (shim/upsampling.py).

Keras (tf.keras 2.15, tf.image.resize with half-pixel centers) samples output pixel i of a
factor-f upsampling at input coordinate (i + 0.5) / f - 0.5, clamped to the image: by hand, a
2-pixel row [a, b] doubled is [a, 3a/4 + b/4, a/4 + 3b/4, b]. keras-mxnet repeated pixels
([a, a, b, b]). The conformance fixture of UpSampling2D:interpolation=bilinear holds tf.keras's
own numbers (tests/test_conformance.py)."""
import numpy as np
import pytest

from shim.keras_mxnet import keras
from keras import layers


def weights(size, factor):
    """(size * factor, size): each output pixel's weights on the input's, along one axis."""
    where = np.clip((np.arange(size * factor) + 0.5) / factor - 0.5, 0, size - 1)
    low = np.floor(where).astype(int)
    high = np.minimum(low + 1, size - 1)
    found = np.zeros((size * factor, size))
    np.add.at(found, (np.arange(size * factor), low), 1 - (where - low))
    np.add.at(found, (np.arange(size * factor), high), where - low)
    return found


def by_hand(image, height_factor, width_factor):
    """Keras's bilinear upsampling of image (height, width): separable, rows then columns."""
    return weights(image.shape[0], height_factor) @ image @ weights(image.shape[1],
                                                                     width_factor).T


def test_the_hand_reference_is_the_worked_example():
    assert by_hand(np.array([[0.0, 4.0]]), 1, 2).tolist() == [[0.0, 1.0, 3.0, 4.0]]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_bilinear_upsampling_matches_keras(data_format):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 2)).astype(np.float32)   # NHWC
    shape = (3, 4, 2) if data_format == "channels_last" else (2, 3, 4)
    model = keras.models.Sequential([layers.UpSampling2D(
        (2, 3), data_format=data_format, interpolation="bilinear", input_shape=shape)])
    feed = x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)
    got = model.predict(feed)
    if data_format == "channels_first":
        got = got.transpose(0, 2, 3, 1)
    expected = np.stack([np.stack([by_hand(x[n, :, :, c].astype(np.float64), 2, 3)
                                   for c in range(2)], axis=-1) for n in range(2)])
    assert got.shape == expected.shape == (2, 6, 12, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_bilinear_upsampling_trains_the_layer_before_it():
    # Each input pixel's weights sum to factor x factor (4) over the output: with a loss of
    # the output's sum, the kernel of a 1x1 Conv2D before it gets 4 x its input's sum.
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 1)).astype(np.float32)
    model = keras.models.Sequential([
        layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", input_shape=(3, 3, 1)),
        layers.UpSampling2D(2, interpolation="bilinear")])
    K = keras.backend
    # keras-mxnet needs the target in the loss's graph: 0 x its sum
    model.compile(keras.optimizers.SGD(lr=1.0), lambda y_true, y_pred: K.sum(
        y_pred, axis=[1, 2, 3]) + 0 * K.sum(y_true, axis=[1, 2, 3]))
    model.train_on_batch(x, np.zeros((2, 6, 6, 1), np.float32))
    kernel = keras.backend.eval(model.layers[0].kernel).ravel()[0]
    np.testing.assert_allclose(1.0 - kernel, 4 * x.sum() / 2, rtol=1e-5)


def test_other_interpolations_are_refused_in_one_line():
    with pytest.raises(ValueError, match="'nearest' or 'bilinear'"):
        keras.backend.resize_images(keras.backend.placeholder((2, 3, 3, 1)), 2, 2,
                                    "channels_last", interpolation="bicubic")
