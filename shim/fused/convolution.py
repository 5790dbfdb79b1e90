"""The bias and conv1d fixes: keras-mxnet's convolutions and 1-D pooling as MXNet builds them
natively (shim/fused/__init__.py lists why)."""
from shim import fused, padding as same_padding

_pending_bias = []  # the bias of the convolution being built, which its Convolution takes


def bias(keras):
    from keras.backend import mxnet_backend as K

    conv = keras.layers.convolutional._Conv
    stock_call = conv.call
    stock_convnd = K._convnd

    @K.keras_mxnet_symbol
    def convnd_with_bias(x, kernel, bias, strides, filter_dilation, name=None,
                         padding_mode="valid", data_format="default"):
        """keras-mxnet's _convnd, with the bias inside the Convolution."""
        import mxnet as mx

        x = K._preprocess_convnd_input(x, data_format)
        kernel = K._preprocess_convnd_kernel(kernel, data_format)
        layout_kernel = tuple(kernel.shape[2:])
        data, is_slice = x.symbol, False
        if padding_mode == "same":   # as the shim pads it (shim/padding.py)
            K._validate_conv_input_shape(x.shape)
            data, padding = same_padding.padded_for_convolution(
                mx, data, x.shape[2:], layout_kernel, strides, filter_dilation)
        else:
            padding, is_slice, out_size = K._preprocess_padding_mode(
                padding_mode, x.shape, layout_kernel, strides, filter_dilation)
        out = mx.sym.Convolution(data=data, name=K._prepare_name(name, "convnd"),
                                 kernel=layout_kernel, stride=strides, pad=padding,
                                 num_filter=kernel.shape[0], weight=kernel.symbol,
                                 bias=bias.symbol, dilate=filter_dilation, no_bias=False)
        out = fused.as_keras_dtype(mx, out)
        if is_slice:  # 'full' padding, cropped as keras-mxnet crops it
            for axis in (2, 3):
                out = mx.sym.slice_axis(out, axis=axis, begin=0, end=out_size[axis - 2])
        return K._postprocess_convnd_output(K.KerasSymbol(out), data_format)

    plain = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)  # not the ones
    # with a call of their own (Conv2DTranspose, SeparableConv2D, ...)

    def call(self, inputs):
        if not self.use_bias or type(self) not in plain:
            return stock_call(self, inputs)
        # K.conv1d/2d/3d do their layout work, then call _convnd: for this layer's call,
        # _convnd is the one that takes the bias (the conv1d fix's 1-D convolution takes it too).
        K._convnd = lambda x, kernel, **kw: convnd_with_bias(x, kernel, self.bias, **kw)
        _pending_bias.append(self.bias)
        try:
            outputs = stock_call(_WithoutBias(self), inputs)
        finally:
            K._convnd = stock_convnd
            _pending_bias.pop()
        fused.record(self.name, "bias", True)
        return outputs

    return fused.patch(conv, "call", call)


class _WithoutBias:
    """A layer seen by _Conv.call with use_bias off (the bias is already in the Convolution)."""

    def __init__(self, layer):
        self._layer = layer

    def __getattr__(self, name):
        return False if name == "use_bias" else getattr(self._layer, name)



# A transpose the conv1d fix makes from (batch, channels, steps) to Keras's channels_last
# (batch, steps, channels) carries this in its name, so that the next 1-D layer (or the fused
# LSTM) can read the tensor before it instead of transposing it back: the same values, without
# the pair of transposes, and in the layout oneDNN's own pooling and convolution output (a
# pooling after a plain transpose measured 8x slower than Gluon's).
CHANNELS_LAST_VIEW = "_channels_last_view"


def channels_last_view(mx, K, data):
    return mx.sym.transpose(data, axes=(0, 2, 1),
                            name=K._prepare_name(None, "transpose") + CHANNELS_LAST_VIEW)


def channels_first_source(symbol):
    """The (batch, channels, steps) tensor a channels_last view was made from, else None."""
    if symbol.name and symbol.name.endswith(CHANNELS_LAST_VIEW):
        return symbol.get_children()[0]
    return None


def conv1d(keras):
    from keras.backend import mxnet_backend as K

    conv1d_layer, pooling = keras.layers.Conv1D, keras.layers.pooling._Pooling1D
    stock_pool_call = pooling.call
    elementwise = {getattr(keras.activations, name) for name in (
        "relu", "tanh", "sigmoid", "hard_sigmoid", "linear", "elu", "selu", "softplus",
        "softsign")}

    def channels_first(mx, x):
        source = channels_first_source(x.symbol)
        return mx.sym.transpose(x.symbol, axes=(0, 2, 1)) if source is None else source

    @K.keras_mxnet_symbol
    def convolution_1d(x, kernel, bias, strides, padding, data_format, dilation_rate, length,
                       keep_channels_first):
        """keras-mxnet's conv1d (its causal padding included; 'same' padded as the shim pads
        it), as one 1-D Convolution rather than a 2-D one on (batch, channels, steps, 1)."""
        import mxnet as mx

        if padding == "causal":  # as keras-mxnet pads it, by the kernel's first dimension
            pad = dilation_rate * (kernel.shape[0] - 1)
            x, length, padding = K.temporal_padding(x, (pad, 0)), length + pad, "valid"
        if data_format == "channels_last":  # the kernel is (size, in, out) there
            data = channels_first(mx, x)
            weight, (size, _, filters) = mx.sym.transpose(kernel.symbol, axes=(2, 1, 0)), \
                kernel.shape
        else:                               # and (out, in, size) here
            data, (weight, (filters, _, size)) = x.symbol, (kernel.symbol, kernel.shape)
        is_slice = False
        if padding == "same":   # as the shim pads it (shim/padding.py)
            data, pads = same_padding.padded_for_convolution(
                mx, data, (length,), (size,), (strides,), (dilation_rate,))
        else:
            pads, is_slice, out_size = K._preprocess_padding_mode(
                padding, (None, None, length), (size,), (strides,), (dilation_rate,))
        out = mx.sym.Convolution(data=data, weight=weight, kernel=(size,), stride=(strides,),
                                 dilate=(dilation_rate,), pad=pads, num_filter=filters,
                                 bias=None if bias is None else bias.symbol, no_bias=bias is None)
        out = fused.as_keras_dtype(mx, out)
        if is_slice:
            out = mx.sym.slice_axis(out, axis=2, begin=0, end=out_size[0])
        if data_format == "channels_last" and not keep_channels_first:
            out = channels_last_view(mx, K, out)
        return K.KerasSymbol(out)

    def steps(x, data_format):
        return K.int_shape(x)[1 if data_format == "channels_last" else 2]

    def backend_conv1d(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        data_format = data_format or K.image_data_format()
        bias = _pending_bias[-1] if _pending_bias else None  # the bias fix's
        return convolution_1d(x, kernel, bias, strides, padding, data_format, dilation_rate,
                              steps(x, data_format), False)

    @K.keras_mxnet_symbol
    def to_channels_last(x):
        import mxnet as mx

        return K.KerasSymbol(channels_last_view(mx, K, x.symbol))

    def conv_call(self, inputs):
        """A channels_last Conv1D with an elementwise activation: the convolution, its bias and
        activation on (batch, channels, steps), then one transpose to channels_last."""
        fused.record(self.name, "conv1d", True)
        if self.data_format != "channels_last" or self.activation not in elementwise:
            return super(conv1d_layer, self).call(inputs)
        bias_inside = self.use_bias and "bias" in fused.enabled()
        out = convolution_1d(inputs, self.kernel, self.bias if bias_inside else None,
                             self.strides[0], self.padding, self.data_format,
                             self.dilation_rate[0], steps(inputs, self.data_format), True)
        if bias_inside:
            fused.record(self.name, "bias", True)
        elif self.use_bias:
            out = K.bias_add(out, self.bias, data_format="channels_first")
        return to_channels_last(self.activation(out))

    @K.keras_mxnet_symbol
    def pooling_1d(x, pool_size, strides, padding, data_format, pool_mode, length):
        """The shim's _poolnd as one 1-D Pooling (its padding rule included)."""
        import mxnet as mx

        data = channels_first(mx, x) if data_format == "channels_last" else x.symbol
        if padding == "same":   # as the shim pools it (shim/padding.py)
            out = same_padding.pooled(mx, data, (length,), pool_size, strides, pool_mode)
        else:
            out = mx.sym.Pooling(data=data, kernel=pool_size, stride=strides,
                                 pool_type=pool_mode, pooling_convention="valid")
        if data_format == "channels_last":
            out = channels_last_view(mx, K, out)
        return K.KerasSymbol(out)

    modes = {keras.layers.MaxPooling1D: "max", keras.layers.AveragePooling1D: "avg"}

    def pool_call(self, inputs):
        if type(self) not in modes:
            return stock_pool_call(self, inputs)
        fused.record(self.name, "conv1d", True)
        return pooling_1d(inputs, self.pool_size, self.strides, self.padding, self.data_format,
                          modes[type(self)], steps(inputs, self.data_format))

    return fused.undo_all([fused.patch(K, "conv1d", backend_conv1d),
                           fused.patch(keras.backend, "conv1d", backend_conv1d),
                           fused.patch(pooling, "call", pool_call),
                           fused.add_method(conv1d_layer, "call", conv_call)])
