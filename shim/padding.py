"""padding='same' placed as Keras places it, for convolutions and pooling (applied by
shim.keras_mxnet; the fused path, shim/fused/convolution.py, builds its own with the same helpers).

Keras (TensorFlow's 'SAME') pads an axis by total = max((out - 1) * stride + span - in, 0)
(out = ceil(in / stride), span the dilated kernel), total // 2 before and the rest after: an odd
total puts its extra element at the end. MXNet's Convolution and Pooling pad both ends alike.
keras-mxnet padded ceil(total / 2) at both ends and cut the output's end, so every window
started one element early: a Conv2D(kernel 2, 'same'), or a Conv2D(3, strides=2, 'same') on an
even size (32 -> 16), or a MaxPooling1D(2, 'same') on an odd length, computed another function
than Keras, with no error. Its average pooling also counted the padding in each window's mean,
where Keras averages the input's elements only.
Now a convolution pads total // 2 at both ends and, where the total is odd, one more at the end
(an explicit `pad` of the input); a pooling pads total // 2 at both ends with MXNet's 'full'
convention (windows may run past the end, as Keras's last one does), averages without the
padding (count_include_pad=False), and is cut to Keras's length.
"""
import math

from shim import mxnet_backend as backend_module


def same_pads(sizes, kernel, strides, dilation):
    """Keras's 'same' padding per spatial axis: (before, after)."""
    pads = []
    for size, k, stride, rate in zip(sizes, kernel, strides, dilation):
        span = (k - 1) * rate + 1
        total = max((math.ceil(size / stride) - 1) * stride + span - size, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def padded_for_convolution(mx, data, sizes, kernel, strides, dilation):
    """(data, pad): data (batch, channels, *sizes) with the odd totals' extra element added at
    the end, and the symmetric pad that a Convolution then adds at both ends."""
    pads = same_pads(sizes, kernel, strides, dilation)
    extra = [after - before for before, after in pads]
    if any(extra):
        flat = len(sizes) == 1   # mx.sym.pad takes 4-D and 5-D data only
        if flat:
            data = mx.sym.expand_dims(data, axis=3)
            extra.append(0)
        widths = (0, 0, 0, 0) + tuple(w for e in extra for w in (0, e))
        data = mx.sym.pad(data, mode="constant", constant_value=0, pad_width=widths)
        if flat:
            data = mx.sym.squeeze(data, axis=3)
    return data, tuple(before for before, _ in pads)


def pooled(mx, data, sizes, pool_size, strides, pool_type, name=None):
    """Keras's 'same' pooling of data (batch, channels, *sizes)."""
    pads = tuple(before for before, _ in same_pads(sizes, pool_size, strides, (1,) * len(sizes)))
    out = mx.sym.Pooling(data=data, name=name, kernel=pool_size, stride=strides, pad=pads,
                         pool_type=pool_type, pooling_convention="full",
                         count_include_pad=False)
    for axis, size in enumerate(sizes, start=2):
        out = mx.sym.slice_axis(out, axis=axis, begin=0, end=math.ceil(size / strides[axis - 2]))
    return out


def patch(keras):
    K = backend_module()
    if getattr(K._convnd, "_shim", False):
        return
    import mxnet as mx

    stock_convnd, stock_poolnd = K._convnd, K._poolnd

    @K.keras_mxnet_symbol
    def _convnd(x, kernel, strides, filter_dilation, name=None, padding_mode="valid",
                data_format="default"):
        if padding_mode != "same":
            return stock_convnd(x, kernel, strides, filter_dilation, name=name,
                                padding_mode=padding_mode, data_format=data_format)
        if data_format is None or data_format == "default":
            data_format = K.image_data_format()
        x = K._preprocess_convnd_input(x, data_format)
        kernel = K._preprocess_convnd_kernel(kernel, data_format)
        K._validate_conv_input_shape(x.shape)
        layout_kernel = tuple(kernel.shape[2:])
        data, pad = padded_for_convolution(mx, x.symbol, x.shape[2:], layout_kernel, strides,
                                           filter_dilation)
        out = mx.sym.Convolution(data=data, name=K._prepare_name(name, "convnd"),
                                 kernel=layout_kernel, stride=strides, pad=pad,
                                 num_filter=kernel.shape[0], weight=kernel.symbol,
                                 dilate=filter_dilation, no_bias=True)
        return K._postprocess_convnd_output(K.KerasSymbol(out), data_format)

    @K.keras_mxnet_symbol
    def _poolnd(x, name, pool_size, strides, padding_mode="valid", data_format=None,
                pool_mode="max"):
        if padding_mode != "same":
            return stock_poolnd(x, name, pool_size, strides, padding_mode, data_format,
                                pool_mode)
        if data_format is None or data_format == "default":
            data_format = K.image_data_format()
        K._validate_data_format(data_format)
        K._validate_pool_mode(pool_mode)
        x = K._preprocess_convnd_input(x, data_format)
        K._validate_pool_input_shape(x.shape)
        out = pooled(mx, x.symbol, x.shape[2:], pool_size, strides, pool_mode,
                     name=K._prepare_name(name, "poolnd"))
        return K._postprocess_convnd_output(K.KerasSymbol(out), data_format)

    _convnd._shim = True
    K._convnd, K._poolnd = _convnd, _poolnd
