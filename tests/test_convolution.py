"""Transposed convolutions compute Keras's function through the shim (shim/convolution.py).

The reference is a numpy transposed convolution cropped as TensorFlow crops it (the gradient of
a convolution: T // 2 elements before, the rest after); tf.keras of tensorflow-cpu 2.15.1
predicted the same as the shim on every case below (to 1e-6), which is how that crop was
checked."""
import numpy as np
import pytest

from shim.keras_mxnet import keras
from keras import layers
from keras.utils import conv_utils

X = np.random.default_rng(0).random((2, 5, 6, 3), dtype=np.float32)


def transposed(x, kernel, bias, strides, dilation, out_shape):
    """x (N, H, W, in), kernel (kh, kw, filters, in): every input element scatters its kernel,
    then the full result is cropped to out_shape, T // 2 before."""
    n, height, width, _ = x.shape
    kh, kw, filters, _ = kernel.shape
    full = [(size - 1) * s + (k - 1) * dilation + 1
            for size, s, k in zip((height, width), strides, (kh, kw))]
    result = np.zeros((n, max(full[0], out_shape[0]), max(full[1], out_shape[1]), filters))
    for i in range(height):
        for j in range(width):
            for a in range(kh):
                for b in range(kw):
                    result[:, i * strides[0] + a * dilation, j * strides[1] + b * dilation] += \
                        x[:, i, j] @ kernel[a, b].T
    begin = [max(f - o, 0) // 2 for f, o in zip(full, out_shape)]
    return result[:, begin[0]:begin[0] + out_shape[0], begin[1]:begin[1] + out_shape[1]] + bias


@pytest.mark.parametrize("options", [
    {"padding": "same"},                                   # stock: failed to run (oneDNN)
    {"padding": "same", "dilation_rate": 2},               # stock: failed to run (oneDNN)
    {"padding": "same", "strides": 2},                     # odd crop: TF cuts it at the end
    {"padding": "same", "strides": 2, "kernel_size": 4},
    {"padding": "same", "strides": 2, "output_padding": 1},
    {"padding": "valid"},
    {"padding": "valid", "strides": 2, "output_padding": 1},
    {"padding": "valid", "strides": 3, "kernel_size": 2},  # longer than the full result
], ids=lambda options: "-".join(f"{k}{v}" for k, v in options.items()))
def test_conv2d_transpose_matches_keras(options):
    options = dict(options)
    kernel_size = options.pop("kernel_size", 3)
    model = keras.models.Sequential([
        layers.Conv2DTranspose(2, kernel_size, input_shape=(5, 6, 3), **options)])
    rng = np.random.default_rng(1)
    kernel, bias = [rng.normal(0, 1, w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights([kernel, bias])
    strides = (options.get("strides", 1),) * 2
    dilation = options.get("dilation_rate", 1)
    out_shape = [conv_utils.deconv_length(size, strides[0], kernel_size, options["padding"],
                                          options.get("output_padding"), dilation)
                 for size in (5, 6)]
    expected = transposed(X, kernel, bias, strides, dilation, out_shape)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-5)
    model.compile(keras.optimizers.SGD(lr=0.01), "mse")
    model.train_on_batch(X, np.zeros(expected.shape, np.float32))


def depthwise_same(x, kernel, strides):
    """x (N, H, W, in), kernel (kh, kw, in, multiplier), padding 'same' as Keras pads it;
    output channel c * multiplier + m."""
    from numpy.lib.stride_tricks import sliding_window_view
    from tests.test_padding import pads

    padded = np.pad(x, [(0, 0)] + pads(x.shape[1:3], kernel.shape[:2], strides) + [(0, 0)])
    windows = sliding_window_view(padded, kernel.shape[:2], axis=(1, 2))
    windows = windows[:, ::strides[0], ::strides[1]]          # (N, oh, ow, in, kh, kw)
    out = np.einsum("zhwcij,ijcm->zhwcm", windows, kernel)
    return out.reshape(out.shape[:3] + (-1,))


@pytest.mark.parametrize("multiplier, strides, shape", [(2, 2, (9, 9, 3)), (1, 2, (8, 8, 3)),
                                                       (3, 1, (6, 7, 2))],
                         ids=["multiplier2-stride2", "multiplier1-stride2-even", "multiplier3"])
def test_depthwise_conv2d_matches_keras(multiplier, strides, shape):
    # keras-mxnet refused depth_multiplier != 1, and padded 'same' one element early where the
    # padding is odd (an even size at stride 2).
    model = keras.models.Sequential([layers.DepthwiseConv2D(
        3, depth_multiplier=multiplier, strides=strides, padding="same", input_shape=shape)])
    rng = np.random.default_rng(2)
    kernel, bias = [rng.normal(0, 1, w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights([kernel, bias])
    x = rng.normal(0, 1, (2,) + shape).astype(np.float32)
    expected = depthwise_same(x.astype(np.float64), kernel, (strides, strides)) + bias
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-4, atol=1e-4)


def test_one_filter_transposed_convolution_after_a_convolution_trains_as_keras():
    """Stock (and the shim before this mend): oneDNN failed the backward pass of a one-filter
    Deconvolution fed by a convolution's output ("could not create a primitive descriptor for
    a reorder primitive"; examples.mnist_denoising_autoencoder's last layer). One SGD step
    moves its kernel by the gradient of the mean squared error, computed here in numpy: the
    output is linear in the kernel, so each kernel element's gradient is the error against
    that element's own transposed convolution."""
    model = keras.models.Sequential([
        layers.Conv2D(16, 1, input_shape=(5, 6, 3), use_bias=False),
        layers.Conv2DTranspose(1, 3, padding="same")])
    rng = np.random.default_rng(2)
    weights = [rng.normal(0, 1, w.shape).astype(np.float32) for w in model.get_weights()]
    model.set_weights(weights)
    conv, kernel, bias = weights
    hidden = X @ conv[0, 0]
    out = transposed(hidden, kernel, bias, (1, 1), 1, (5, 6))
    np.testing.assert_allclose(model.predict(X), out, rtol=1e-5, atol=1e-5)
    error = 2 * out / out.size                       # d mean(out ** 2) / d out (target 0)
    grad = np.zeros_like(kernel)
    for index in np.ndindex(kernel.shape):
        unit = np.zeros_like(kernel)
        unit[index] = 1
        grad[index] = (error * transposed(hidden, unit, 0, (1, 1), 1, (5, 6))).sum()
    model.compile(keras.optimizers.SGD(lr=0.1), "mse")
    model.train_on_batch(X, np.zeros(out.shape, np.float32))
    np.testing.assert_allclose(model.get_weights()[1], kernel - 0.1 * grad, rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_lstm2d_channels_first_computes_what_channels_last_does(padding):
    # Stock: K.conv2d read the cell's (kh, kw, in, out) kernel as (out, in, kh, kw) under
    # channels_first, and the layer failed to build ("broadcast_add ... [-1,3,3,4] [1,2,1,1]").
    x = np.random.default_rng(3).normal(0, 1, (2, 3, 5, 5, 2)).astype(np.float32)
    models = {f: keras.models.Sequential([layers.ConvLSTM2D(
        2, 3, padding=padding, data_format=f, return_sequences=True,
        input_shape=(3, 5, 5, 2) if f == "channels_last" else (3, 2, 5, 5))])
        for f in ("channels_last", "channels_first")}
    rng = np.random.default_rng(4)
    weights = [rng.normal(0, 0.5, w.shape).astype(np.float32)
               for w in models["channels_last"].get_weights()]
    for model in models.values():
        model.set_weights(weights)   # the same shapes: the kernels stay in Keras's layout
    last = models["channels_last"].predict(x)
    first = models["channels_first"].predict(x.transpose(0, 1, 4, 2, 3))
    np.testing.assert_allclose(first.transpose(0, 1, 3, 4, 2), last, rtol=1e-5, atol=1e-5)
