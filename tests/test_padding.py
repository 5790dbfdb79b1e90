"""padding='same' convolutions and pooling compute Keras's function (shim/padding.py).

The reference pads as TensorFlow's 'SAME' does (total // 2 before, the rest after) in numpy;
tf.keras of tensorflow-cpu 2.15.1 predicted the same as the shim on these layers (to 1e-6)."""
import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from shim.keras_mxnet import keras
from keras import layers


def pads(sizes, kernel, strides, dilation=None):
    dilation = dilation or (1,) * len(sizes)
    result = []
    for size, k, s, d in zip(sizes, kernel, strides, dilation):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        result.append((total // 2, total - total // 2))
    return result


def conv_same(x, kernel, strides, dilation):
    """x (N, *sizes, in), kernel (*k, in, out), channels_last."""
    n = x.ndim - 2
    padded = np.pad(x, [(0, 0)] + pads(x.shape[1:-1], kernel.shape[:n], strides, dilation)
                    + [(0, 0)])
    span = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:n], dilation)]
    windows = sliding_window_view(padded, span, axis=tuple(range(1, n + 1)))
    windows = windows[(slice(None),) + tuple(slice(None, None, s) for s in strides)]
    windows = windows[(Ellipsis,) + tuple(slice(None, None, d) for d in dilation)]
    letters = "abc"[:n]
    return np.einsum(f"z{letters.upper()}i{letters},{letters}io->z{letters.upper()}o",
                     windows, kernel)


def pool_same(x, pool, strides, reduce):
    """Keras's 'same' pooling: the padding takes no part in a window (NaN, then nan-reduced)."""
    n = x.ndim - 2
    padded = np.pad(x, [(0, 0)] + pads(x.shape[1:-1], pool, strides) + [(0, 0)],
                    constant_values=np.nan)
    windows = sliding_window_view(padded, pool, axis=tuple(range(1, n + 1)))
    windows = windows[(slice(None),) + tuple(slice(None, None, s) for s in strides)]
    return reduce(windows, axis=tuple(range(-n, 0)))


@pytest.mark.parametrize("layer, shape", [
    (lambda: layers.Conv2D(4, 2, padding="same"), (8, 8, 3)),            # odd total
    (lambda: layers.Conv2D(4, 3, strides=2, padding="same"), (8, 8, 3)),  # 8 -> 4, odd total
    (lambda: layers.Conv2D(4, 3, strides=2, padding="same"), (9, 9, 3)),  # even total
    (lambda: layers.Conv2D(4, 4, dilation_rate=2, padding="same"), (7, 6, 3)),
    (lambda: layers.Conv1D(3, 3, strides=2, padding="same"), (12, 4)),
    (lambda: layers.Conv3D(2, 2, padding="same"), (4, 5, 3, 2)),
], ids=["2d-even-kernel", "2d-stride2-even-size", "2d-stride2-odd-size", "2d-dilated",
        "1d-stride2", "3d-even-kernel"])
def test_same_convolution_pads_as_keras(layer, shape):
    # keras-mxnet padded ceil(total / 2) at both ends and cut the end: every window one early.
    conv = layer()
    model = keras.models.Sequential([layers.InputLayer(shape), conv])
    rng = np.random.default_rng(0)
    kernel, bias = [rng.normal(0, 1, w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights([kernel, bias])
    x = rng.normal(0, 1, (2,) + shape).astype(np.float32)
    expected = conv_same(x.astype(np.float64), kernel, conv.strides, conv.dilation_rate) + bias
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layer, shape, reduce", [
    (lambda: layers.MaxPooling1D(2, padding="same"), (11, 3), np.nanmax),
    (lambda: layers.AveragePooling1D(3, strides=2, padding="same"), (11, 3), np.nanmean),
    (lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (8, 9, 3), np.nanmax),
    (lambda: layers.AveragePooling2D(3, strides=2, padding="same"), (9, 9, 3), np.nanmean),
    (lambda: layers.AveragePooling2D(2, padding="same"), (5, 4, 2), np.nanmean),
    (lambda: layers.AveragePooling3D(2, padding="same"), (5, 5, 5, 2), np.nanmean),
], ids=["max1d", "avg1d", "max2d", "avg2d-counts", "avg2d-odd", "avg3d"])
def test_same_pooling_pads_and_averages_as_keras(layer, shape, reduce):
    # keras-mxnet also counted the padding in an average's divisor.
    pool = layer()
    model = keras.models.Sequential([layers.InputLayer(shape), pool])
    x = np.random.default_rng(1).normal(0, 1, (2,) + shape).astype(np.float32)
    n = len(shape) - 1
    expected = pool_same(x.astype(np.float64), tuple(pool.pool_size)[:n],
                         tuple(pool.strides)[:n], reduce)
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-5)
