"""UpSampling2D(interpolation='bilinear') computed as Keras computes it (applied by
shim.keras_mxnet).

keras-mxnet's `K.resize_images` ignored `interpolation` and always repeated pixels, so
UpSampling2D(interpolation='bilinear') computed UpSampling2D(interpolation='nearest'), with no
error (conformance's UpSampling2D:interpolation=bilinear: predictions off by 0.456).
Keras (tf.keras 2.15: tf.image.resize, bilinear, half-pixel centers) samples output pixel i at
(i + 0.5) / factor - 0.5 of the input, clamped at its edges; MXNet's
contrib.BilinearResize2D with align_corners=False computes exactly that (measured against
tf.image.resize on random data: 2.4e-7), and has a backward pass. Its align_corners=True
default (corners on corners) is another function. Bilinear now uses it; 'nearest' stays
keras-mxnet's; anything else is refused in one line, as Keras refuses it.
"""

from shim import mxnet_backend as backend_module


def patch(keras):
    K = backend_module()
    if getattr(K.resize_images, "_shim", False):
        return
    nearest = K.resize_images

    def resize_images(x, height_factor, width_factor, data_format, interpolation="nearest"):
        if interpolation == "nearest":
            return nearest(x, height_factor, width_factor, data_format, interpolation)
        if interpolation != "bilinear":
            raise ValueError(f"interpolation should be one of 'nearest' or 'bilinear', "
                             f"not {interpolation!r}")
        if data_format not in ("channels_first", "channels_last"):
            raise ValueError(f"data_format should be 'channels_first' or 'channels_last', "
                             f"not {data_format!r}")
        return bilinear(x, height_factor, width_factor, data_format)

    resize_images._shim = True
    K.resize_images = resize_images
    keras.backend.resize_images = resize_images   # what UpSampling2D calls (K.resize_images)


def bilinear(x, height_factor, width_factor, data_format):
    """x (a KerasSymbol, 4-D) resized by the integer factors, bilinear with half-pixel
    centers: BilinearResize2D takes (batch, channels, height, width)."""
    import mxnet as mx

    K = backend_module()

    @K.keras_mxnet_symbol
    def resize(x):
        data = x.symbol
        if data_format == "channels_last":
            data = mx.sym.transpose(data, axes=(0, 3, 1, 2))
        data = mx.sym.contrib.BilinearResize2D(data, scale_height=float(height_factor),
                                               scale_width=float(width_factor),
                                               align_corners=False)
        if data_format == "channels_last":
            data = mx.sym.transpose(data, axes=(0, 2, 3, 1))
        return K.KerasSymbol(data)

    return resize(x)
