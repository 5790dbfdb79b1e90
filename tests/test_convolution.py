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
