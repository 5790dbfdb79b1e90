"""keras-mxnet's transposed, depthwise and ConvLSTM2D convolutions made to compute Keras's
function (applied by shim.keras_mxnet).

Depthwise (DepthwiseConv2D, and SeparableConv2D's first step): keras-mxnet refused a
depth_multiplier other than 1, and padded 'same' as its other convolutions did (shim/padding.py
says how that was wrong). Now the (in, multiplier, *kernel) kernel becomes MXNet's grouped
Convolution weight (in x multiplier, 1, *kernel), output channel c x multiplier + m as Keras
orders them, padded as shim/padding.py pads.

Transposed (Conv2DTranspose, Conv3DTranspose):

keras-mxnet handed MXNet's Deconvolution the output size Keras asks for (`target_shape`) and let
MXNet choose the padding:
- MXNet 1.9.1's oneDNN (MKLDNN) deconvolution, what the CPU build runs, ignores the padding it
  infers from `target_shape` and fails to run ("could not create a descriptor for a dilated
  deconvolution forward propagation primitive") wherever that padding isn't 0: every
  padding='same' layer, dilated or not (keras-mxnet's own test_conv2d_transpose[same-*] and
  test_conv2d_transpose_dilation).
- Where the padding is odd, MXNet crops the extra element at the start (pad (T + 1) / 2, adj
  T % 2), Keras on TensorFlow (the gradient of a 'SAME' convolution) at the end (T // 2 before):
  a stride-2 'same' layer would have been shifted by one.
Now the crop is Keras's, computed here per spatial axis: with L = (in - 1) * stride + dilated
kernel the full transposed convolution's length and T = L - out, MXNet gets pad T // 2 and
adj 0, and the one element left over where T is odd is sliced off the end; where Keras asks for
more than L (output_padding, or a kernel smaller than the stride with 'valid'), pad 0 and
adj = -T, the extra elements at the end, as TensorFlow's.

ConvLSTM2D (its cell): Keras lays its kernels out (*kernel, in, 4 x filters) whatever the
data_format, and keras-mxnet kept that layout for this layer (its other convolutions' kernels
are (out, in, *kernel) under channels_first), but K.conv2d with channels_first reads a kernel
as (out, in, *kernel): channels_first ConvLSTM2D convolved with a kernel read in the wrong
order and failed to build ("broadcast_add ... [-1,3,3,4] [1,2,1,1]"). Its convolutions now get
the kernel transposed to what K.conv2d reads; the weights stay in Keras's layout.
"""

from shim import padding
from shim import mxnet_backend as backend_module


def crops(in_size, out_size, kernel, stride, dilation):
    """(pad, adj, cut) of one spatial axis: MXNet's Deconvolution pad and adj, and how many
    elements to cut off the end after it, so that it crops as Keras does."""
    full = (in_size - 1) * stride + (kernel - 1) * dilation + 1
    total = full - out_size
    if total < 0:
        return 0, -total, 0
    return total // 2, 0, total % 2


def patch(keras):
    K = backend_module()
    if getattr(K._convnd_transpose, "_shim", False):
        return
    import mxnet as mx

    @K.keras_mxnet_symbol   # as keras-mxnet's: traced once per learning phase
    def _convnd_transpose(x, kernel, output_shape, strides, data_format, name=None,
                          dilation_rate=(1, 1)):
        spatial = K.int_shape(x)[2:] if data_format == "channels_first" else \
            K.int_shape(x)[1:-1]
        x = K._preprocess_convnd_input(x, data_format)
        kernel = K._preprocess_convnd_kernel(kernel, data_format)
        kernel_size = tuple(kernel.shape[2:])   # (in, filters, *kernel) as MXNet lays it out
        targets = output_shape[2:] if data_format == "channels_first" else output_shape[1:-1]
        if any(not size for size in tuple(spatial) + tuple(targets)):
            raise ValueError(
                f"MXNet backend: a transposed convolution needs its input's spatial size; got "
                f"{K.int_shape(x)}. Give the model an input_shape with every spatial dimension.")
        pads, adjs, cuts = zip(*(crops(*axis) for axis in zip(
            spatial, targets, kernel_size, strides, dilation_rate)))
        filters, weight = kernel.shape[1], kernel.symbol
        if filters == 1:
            # oneDNN's backward pass of a one-filter deconvolution fails on an input in its
            # blocked layout (any convolution's output): "could not create a primitive
            # descriptor for a reorder primitive". A zero second filter, sliced off after,
            # computes the same function and gradients.
            weight = mx.sym.concat(weight, mx.sym.zeros_like(weight), dim=1)
        result = K.KerasSymbol(mx.sym.Deconvolution(
            data=x.symbol, name=K._prepare_name(name, "convnd_transpose"),
            kernel=kernel_size, stride=strides, num_filter=max(filters, 2),
            weight=weight, no_bias=True, pad=pads, adj=adjs, dilate=dilation_rate))
        if filters == 1:
            result = K.KerasSymbol(mx.sym.slice_axis(result.symbol, axis=1, begin=0, end=1))
        for axis, cut in enumerate(cuts, start=2):
            if cut:
                result = K.KerasSymbol(mx.sym.slice_axis(result.symbol, axis=axis, begin=0,
                                                         end=-cut))
        return K._postprocess_convnd_output(result, data_format)

    _convnd_transpose._shim = True   # (on the decorator's wrapper)
    K._convnd_transpose = _convnd_transpose

    @K.keras_mxnet_symbol
    def _dw_conv(x, kernel, strides, filter_dilation, name=None, padding_mode="valid",
                 data_format="default"):
        if data_format is None or data_format == "default":
            data_format = K.image_data_format()
        x = K._preprocess_convnd_input(x, data_format)
        kernel = K._preprocess_dw_convnd_kernel(kernel, data_format)   # (in, multiplier, *k)
        K._validate_conv_input_shape(x.shape)
        channels, multiplier, layout_kernel = kernel.shape[0], kernel.shape[1], \
            tuple(kernel.shape[2:])
        data, pad = x.symbol, (0,) * len(layout_kernel)
        if padding_mode == "same":
            data, pad = padding.padded_for_convolution(mx, data, x.shape[2:], layout_kernel,
                                                       strides, filter_dilation)
        weight = mx.sym.reshape(kernel.symbol, shape=(channels * multiplier, 1) + layout_kernel)
        out = mx.sym.Convolution(data=data, name=K._prepare_name(name, "convnd"),
                                 kernel=layout_kernel, num_group=channels, stride=strides,
                                 pad=pad, num_filter=channels * multiplier, weight=weight,
                                 dilate=filter_dilation, no_bias=True)
        return K._postprocess_convnd_output(K.KerasSymbol(out), data_format)

    K._dw_conv = _dw_conv

    cell = keras.layers.ConvLSTM2DCell
    stock_input_conv, stock_recurrent_conv = cell.input_conv, cell.recurrent_conv

    def as_read(self, w):
        """(*kernel, in, out) -> (out, in, *kernel) where K.conv2d reads channels_first."""
        return K.permute_dimensions(w, (3, 2, 0, 1)) if self.data_format == "channels_first" \
            else w

    def input_conv(self, x, w, b=None, padding="valid"):
        return stock_input_conv(self, x, as_read(self, w), b, padding=padding)

    def recurrent_conv(self, x, w):
        return stock_recurrent_conv(self, x, as_read(self, w))

    cell.input_conv, cell.recurrent_conv = input_conv, recurrent_conv
