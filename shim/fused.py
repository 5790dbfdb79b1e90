"""Opt-in: a Keras user's unchanged model trained at Gluon's speed, computing the same function.

    from shim.keras_mxnet import keras
    from shim import fused
    fused.enable()              # before the model is built; fused.enable(["rnn"]) for one fix
    model = build_my_model()    # unchanged Keras code, compiled and fitted as ever

Importing shim.keras_mxnet alone changes none of this. keras-mxnet builds its graph out of small
operators where MXNet has one fused operator for the same function (README, Where the time goes);
MXNet's own oneDNN graph fusion cannot help, as it is inference-only. So each fix below builds the
faster graph where Keras builds it, from Keras's own variables: the weights keep their names,
shapes and h5 layout (a model saved here loads in stock keras-mxnet, and the other way round),
and gradients reach the same variables. A layer a fix cannot compute exactly stays stock, with
one log line naming it and why. tests/test_fused.py holds each fix to keras's function:
predictions, loss, every gradient, and the parameters after an SGD and an Adam step.
"""
import logging
import types

FIXES = {
    # name: why
    "bias": "a Conv1D/2D/3D with a bias is one Convolution with its bias, not a bias-free "
            "Convolution then a broadcast_add, whose backward reduces the whole output",
    "rnn": "an LSTM, a GRU(reset_after=True) or a SimpleRNN that MXNet's fused RNN operator "
           "computes (sigmoid gates, no dropout, no mask, not stateful) is one RNN operator, "
           "not a step-by-step graph of dots and adds",
    "dense": "a Dense is one FullyConnected on its transposed kernel, not a dot then a "
             "broadcast_add (measured 4.7 against 12.8 ms a training step for LeNet's 2450x500 "
             "at batch 128, transpose included)",
    "conv1d": "a Conv1D and a 1-D pooling run as 1-D MXNet operators, not as 2-D ones on an "
              "added axis of size 1 (the CNN-LSTM's convolution and pooling, 12.6 against 20.4 ms "
              "and 21.6 against 26.7 a training step with their layout transposes)",
    "copies": "initial weights and fit's per-batch inputs reach MXNet off the Python thread, "
              "whose OpenMP team would slow every later operator (shim/arrays.py)",
}

log = logging.getLogger(__name__)
_undo = []        # how to take back what enable() patched, last first
_enabled = ()
_layers = {}      # (layer, fix) -> {"layer", "fix", "fused", "reason"}


def parse(text):
    """'all' (or '') -> every fix; 'bias+rnn' -> ('bias', 'rnn')."""
    if text in (None, "", "all"):
        return tuple(FIXES)
    return _checked(text.split("+"))


def _checked(names):
    names = tuple(names)
    bad = [n for n in names if n not in FIXES]
    if bad or not names:
        raise ValueError(f"unknown fix {(bad or [''])[0]!r} for the fused path; use 'all' or "
                         f"one or more of {', '.join(FIXES)} joined by '+'")
    return tuple(n for n in FIXES if n in names)


def enable(fixes=None):
    """Turn the fused path on for models built from now on: every fix, or the named ones."""
    global _enabled
    fixes = tuple(FIXES) if fixes is None else _checked(
        fixes.split("+") if isinstance(fixes, str) else fixes)
    disable()
    _layers.clear()
    from shim.keras_mxnet import keras

    for name in fixes:
        _undo.append(_PATCHES[name](keras))
    _enabled = fixes


def disable():
    """Back to stock keras-mxnet for models built from now on."""
    global _enabled
    while _undo:
        _undo.pop()()
    _enabled = ()


def enabled():
    return _enabled


def layers():
    """One record per layer a fix looked at since enable(): fused, or kept as stock with the
    reason."""
    return list(_layers.values())


def _record(layer, fix, fused, reason=""):
    key = (layer, fix)
    if key in _layers:
        return
    _layers[key] = {"layer": layer, "fix": fix, "fused": fused, "reason": reason}
    if not fused:
        log.warning("%s: %s; kept as stock", layer, reason)


def _patch(owner, name, value):
    """Set owner.name, returning how to undo it."""
    old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, value)
    return lambda: setattr(owner, name, old)


def _undo_all(undos):
    def undo():
        for u in reversed(undos):
            u()
    return undo


# --- bias ----------------------------------------------------------------------------------

_pending_bias = []  # the bias of the convolution being built, which its Convolution takes

def _fuse_bias(keras):
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
        padding, is_slice, out_size = K._preprocess_padding_mode(
            padding_mode, x.shape, layout_kernel, strides, filter_dilation)
        out = mx.sym.Convolution(data=x.symbol, name=K._prepare_name(name, "convnd"),
                                 kernel=layout_kernel, stride=strides, pad=padding,
                                 num_filter=kernel.shape[0], weight=kernel.symbol,
                                 bias=bias.symbol, dilate=filter_dilation, no_bias=False)
        if is_slice:  # an even kernel with 'same' padding, cropped as keras-mxnet crops it
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
        _record(self.name, "bias", True)
        return outputs

    return _patch(conv, "call", call)


class _WithoutBias:
    """A layer seen by _Conv.call with use_bias off (the bias is already in the Convolution)."""

    def __init__(self, layer):
        self._layer = layer

    def __getattr__(self, name):
        return False if name == "use_bias" else getattr(self._layer, name)


# --- rnn -----------------------------------------------------------------------------------

def _fuse_rnn(keras):
    from keras.backend import mxnet_backend as K

    rnn_layer = keras.layers.RNN
    stock_call = rnn_layer.call
    stock_rnn = keras.backend.rnn
    calling = []  # the recurrent layer whose call is building the graph now

    def call(self, inputs, mask=None, training=None, initial_state=None, constants=None):
        # Keras's own zero state (no initial_state given, not stateful) is built from a sum over
        # the whole input; the fused operator can take zeros whose batch size it infers.
        zeros = initial_state is None and not self.stateful and not isinstance(inputs, list)
        calling.append((self, zeros))
        try:
            return stock_call(self, inputs, mask=mask, training=training,
                              initial_state=initial_state, constants=constants)
        finally:
            calling.pop()

    def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None,
            constants=None, unroll=False, input_length=None, cell=None, training=None):
        layer, zeros = calling[-1] if calling else (None, False)
        mode, reason = _rnn_mode(keras, layer, cell, mask, constants)
        if layer is not None:
            _record(layer.name, "rnn", mode is not None, reason)
        if mode is None:
            return stock_rnn(step_function, inputs, initial_states, go_backwards, mask,
                             constants, unroll, input_length, cell, training)
        return fused_rnn(inputs, cell.kernel, cell.recurrent_kernel, cell.bias,
                         [] if zeros else list(initial_states), mode, cell.units, go_backwards)

    @K.keras_mxnet_symbol
    def fused_rnn(inputs, kernel, recurrent_kernel, bias, initial_states, mode, units,
                  go_backwards):
        """[] for initial_states: zeros."""
        import mxnet as mx

        source = _channels_first_source(inputs.symbol)  # (batch, channels, steps), see conv1d
        x = mx.sym.transpose(inputs.symbol if source is None else source,
                             axes=(1, 0, 2) if source is None else (2, 0, 1))  # time major
        if go_backwards:
            x = mx.sym.reverse(x, axis=0)
        parameters = _parameters(mx, mode, units, kernel.symbol, recurrent_kernel.symbol,
                                 None if bias is None else bias.symbol)
        states = [mx.sym.expand_dims(s.symbol, axis=0) for s in initial_states] or [
            mx.sym.zeros(shape=(1, 0, units)) for _ in range(2 if mode == "lstm" else 1)]
        named = dict(zip(("state", "state_cell"), states))
        out = mx.sym.RNN(data=x, parameters=parameters, state_size=units, num_layers=1,
                         mode=mode, state_outputs=True, **named)
        final = [K.KerasSymbol(mx.sym.reshape(out[i], shape=(-3, -2)))
                 for i in range(1, 1 + len(states))]
        outputs = K.KerasSymbol(mx.sym.transpose(out[0], axes=(1, 0, 2)))
        last = K.KerasSymbol(mx.sym.reshape(out[1], shape=(-3, -2)))  # hN: the last output
        return last, outputs, final

    undo = _undo_all([_patch(rnn_layer, "call", call), _patch(keras.backend, "rnn", rnn),
                      _patch(K, "rnn", rnn)])
    return undo


def _rnn_mode(keras, layer, cell, mask, constants):
    """(MXNet RNN mode, '') when the fused operator computes this layer's function, else
    (None, why not)."""
    layers, activations, K = keras.layers, keras.activations, keras.backend
    sigmoid, tanh, relu = ({getattr(activations, f), getattr(K, f)}
                           for f in ("sigmoid", "tanh", "relu"))
    kind = type(cell)
    if layer is None or kind not in (layers.LSTMCell, layers.GRUCell, layers.SimpleRNNCell):
        return None, f"cell {kind.__name__} has no fused kernel"
    if kind is layers.SimpleRNNCell:
        mode = ("rnn_tanh" if cell.activation in tanh else
                "rnn_relu" if cell.activation in relu else None)
        if mode is None:
            return None, f"activation={_name(cell.activation)!r} has no fused kernel"
    else:
        if cell.activation not in tanh:
            return None, f"activation={_name(cell.activation)!r} has no fused kernel"
        if cell.recurrent_activation not in sigmoid:
            return None, (f"recurrent_activation={_name(cell.recurrent_activation)!r} has no "
                          "fused kernel")
        mode = "lstm"
        if kind is layers.GRUCell:
            if not cell.reset_after:
                return None, ("reset_after=False (Keras's default GRU) is not the GRU MXNet's "
                              "operator computes")
            mode = "gru"
    if cell.dropout or cell.recurrent_dropout:
        return None, "dropout has no fused kernel"
    if mask is not None:
        return None, "its input is masked, which the fused operator does not read"
    if constants:
        return None, "constants have no fused kernel"
    if layer.stateful:
        return None, "stateful=True is not fused"
    return mode, ""


def _name(function):
    return getattr(function, "__name__", repr(function))


def _parameters(mx, mode, units, kernel, recurrent_kernel, bias):
    """MXNet's flat RNN parameter vector (src/operator/rnn_impl.h: the input weights (gates x
    inputs), the recurrent weights (gates x units), the input bias, the recurrent bias), made in
    the graph from Keras's kernel (inputs, gates x units), recurrent kernel and bias.

    Gate order: an LSTM's is i, f, c, o in both. A GRU's is Keras's z, r, h against MXNet's
    r, z, n, so its blocks are swapped; Keras's reset_after GRU bias is (2, 3 x units): input
    bias, then recurrent bias. A missing bias (use_bias=False) is zeros."""
    gates = {"lstm": 4, "gru": 3}.get(mode, 1)

    def reorder(matrix, axis):
        if mode != "gru":
            return matrix
        z, r, h = (mx.sym.slice_axis(matrix, axis=axis, begin=k * units, end=(k + 1) * units)
                   for k in range(3))
        return mx.sym.concat(r, z, h, dim=axis)

    def flat(matrix):  # Keras's (in, gates x units) -> MXNet's (gates x units, in), flattened
        return mx.sym.reshape(mx.sym.transpose(reorder(matrix, 1)), shape=(-1,))

    if bias is None:
        biases = [mx.sym.zeros(shape=(2 * gates * units,))]
    elif mode == "gru":
        biases = [mx.sym.reshape(reorder(bias, 1), shape=(-1,))]
    else:
        biases = [bias, mx.sym.zeros(shape=(gates * units,))]
    return mx.sym.concat(flat(kernel), flat(recurrent_kernel), *biases, dim=0)


# --- dense ---------------------------------------------------------------------------------

def _fuse_dense(keras):
    from keras.backend import mxnet_backend as K

    dense = keras.layers.Dense
    stock_call = dense.call

    @K.keras_mxnet_symbol
    def fully_connected(x, kernel, bias, units):
        import mxnet as mx

        # FullyConnected's weight is (units, in), Keras's kernel (in, units); flatten=False
        # applies it to the last axis, as K.dot does for inputs of any rank.
        out = mx.sym.FullyConnected(data=x.symbol, weight=mx.sym.transpose(kernel.symbol),
                                    bias=None if bias is None else bias.symbol,
                                    no_bias=bias is None, num_hidden=units, flatten=False)
        return K.KerasSymbol(out)

    def call(self, inputs):
        if K.is_sparse(inputs) or type(self).call is not dense.call:
            return stock_call(self, inputs)
        outputs = fully_connected(inputs, self.kernel, self.bias if self.use_bias else None,
                                  self.units)
        _record(self.name, "dense", True)
        return outputs if self.activation is None else self.activation(outputs)

    return _patch(dense, "call", call)


# --- conv1d --------------------------------------------------------------------------------

# A transpose the conv1d fix makes from (batch, channels, steps) to Keras's channels_last
# (batch, steps, channels) carries this in its name, so that the next 1-D layer (or the fused
# LSTM) can read the tensor before it instead of transposing it back: the same values, without
# the pair of transposes, and in the layout oneDNN's own pooling and convolution output (a
# pooling after a plain transpose measured 8x slower than Gluon's).
CHANNELS_LAST_VIEW = "_channels_last_view"


def _channels_last_view(mx, K, data):
    return mx.sym.transpose(data, axes=(0, 2, 1),
                            name=K._prepare_name(None, "transpose") + CHANNELS_LAST_VIEW)


def _channels_first_source(symbol):
    """The (batch, channels, steps) tensor a channels_last view was made from, else None."""
    if symbol.name and symbol.name.endswith(CHANNELS_LAST_VIEW):
        return symbol.get_children()[0]
    return None


def _native_1d(keras):
    from keras.backend import mxnet_backend as K

    conv1d_layer, pooling = keras.layers.Conv1D, keras.layers.pooling._Pooling1D
    stock_pool_call = pooling.call
    elementwise = {getattr(keras.activations, name) for name in (
        "relu", "tanh", "sigmoid", "hard_sigmoid", "linear", "elu", "selu", "softplus",
        "softsign")}

    def channels_first(mx, x):
        source = _channels_first_source(x.symbol)
        return mx.sym.transpose(x.symbol, axes=(0, 2, 1)) if source is None else source

    @K.keras_mxnet_symbol
    def convolution_1d(x, kernel, bias, strides, padding, data_format, dilation_rate, length,
                       keep_channels_first):
        """keras-mxnet's conv1d (its causal padding, 'same' padding and cropping included), as
        one 1-D Convolution rather than a 2-D one on (batch, channels, steps, 1)."""
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
        pads, is_slice, out_size = K._preprocess_padding_mode(
            padding, (None, None, length), (size,), (strides,), (dilation_rate,))
        out = mx.sym.Convolution(data=data, weight=weight, kernel=(size,), stride=(strides,),
                                 dilate=(dilation_rate,), pad=pads, num_filter=filters,
                                 bias=None if bias is None else bias.symbol, no_bias=bias is None)
        if is_slice:
            out = mx.sym.slice_axis(out, axis=2, begin=0, end=out_size[0])
        if data_format == "channels_last" and not keep_channels_first:
            out = _channels_last_view(mx, K, out)
        return K.KerasSymbol(out)

    def steps(x, data_format):
        return K.int_shape(x)[1 if data_format == "channels_last" else 2]

    def conv1d(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        data_format = data_format or K.image_data_format()
        bias = _pending_bias[-1] if _pending_bias else None  # the bias fix's
        return convolution_1d(x, kernel, bias, strides, padding, data_format, dilation_rate,
                              steps(x, data_format), False)

    @K.keras_mxnet_symbol
    def to_channels_last(x):
        import mxnet as mx

        return K.KerasSymbol(_channels_last_view(mx, K, x.symbol))

    def conv_call(self, inputs):
        """A channels_last Conv1D with an elementwise activation: the convolution, its bias and
        activation on (batch, channels, steps), then one transpose to channels_last."""
        _record(self.name, "conv1d", True)
        if self.data_format != "channels_last" or self.activation not in elementwise:
            return super(conv1d_layer, self).call(inputs)
        bias_inside = self.use_bias and "bias" in _enabled
        out = convolution_1d(inputs, self.kernel, self.bias if bias_inside else None,
                             self.strides[0], self.padding, self.data_format,
                             self.dilation_rate[0], steps(inputs, self.data_format), True)
        if bias_inside:
            _record(self.name, "bias", True)
        elif self.use_bias:
            out = K.bias_add(out, self.bias, data_format="channels_first")
        return to_channels_last(self.activation(out))

    @K.keras_mxnet_symbol
    def pooling_1d(x, pool_size, strides, padding, data_format, pool_mode, length):
        """keras-mxnet's _poolnd as one 1-D Pooling (its padding rule included)."""
        import mxnet as mx

        data = channels_first(mx, x) if data_format == "channels_last" else x.symbol
        pads, _, _ = K._preprocess_pooling_padding_mode(padding, (None, None, length),
                                                        pool_size, strides)
        # keras-mxnet crops nothing after pooling a 1-D input (its crop skips the first two
        # spatial axes), so neither does this.
        out = mx.sym.Pooling(data=data, kernel=pool_size, stride=strides, pad=pads,
                             pool_type=pool_mode, pooling_convention="valid")
        if data_format == "channels_last":
            out = _channels_last_view(mx, K, out)
        return K.KerasSymbol(out)

    modes = {keras.layers.MaxPooling1D: "max", keras.layers.AveragePooling1D: "avg"}

    def pool_call(self, inputs):
        if type(self) not in modes:
            return stock_pool_call(self, inputs)
        _record(self.name, "conv1d", True)
        return pooling_1d(inputs, self.pool_size, self.strides, self.padding, self.data_format,
                          modes[type(self)], steps(inputs, self.data_format))

    return _undo_all([_patch(K, "conv1d", conv1d), _patch(keras.backend, "conv1d", conv1d),
                      _patch(pooling, "call", pool_call), _set(conv1d_layer, "call", conv_call)])


def _set(cls, name, value):
    """Give a class an attribute it only inherits now, returning how to take it away."""
    assert name not in cls.__dict__
    setattr(cls, name, value)
    return lambda: delattr(cls, name)


# --- copies --------------------------------------------------------------------------------

def _copy_off_thread(keras):
    import numpy as np

    from keras.backend import mxnet_backend as K
    from shim import arrays

    stock_variable = K.variable
    model = keras.models.Model
    stock_compile = model.compile

    def variable(value, dtype=None, name=None, constraint=None, sparse_weight=False):
        if sparse_weight or hasattr(value, "tocoo"):
            pass
        elif isinstance(value, K.KerasSymbol) and arrays.copied_in_parallel(
                int(np.prod(value.shape))):
            # An initializer's draw: stock evaluates it to numpy (a copy to the host) and
            # back. The same executor, bound here so that it draws the same numbers, hands
            # its output to MXNet directly.
            value = K._forward_pass(value)[0]
        elif isinstance(value, np.ndarray) and arrays.copied_in_parallel(value.size):
            value = arrays.ndarray(value, dtype=K._convert_string_dtype(dtype or K.floatx()))
        return stock_variable(value, dtype, name, constraint, sparse_weight)

    def adjust_module(self, inputs, phase):
        # fit/predict's batches: keras-mxnet makes each an MXNet array on the Python thread.
        specs = list(self.inputs) + list(self.targets) + list(self.sample_weights)
        inputs = [arrays.ndarray(x, dtype=spec.dtype)
                  if spec is not None and isinstance(x, np.ndarray)
                  and arrays.copied_in_parallel(x.size) else x
                  for x, spec in zip(inputs, specs + [None] * (len(inputs) - len(specs)))]
        return type(self)._adjust_module(self, inputs, phase)

    def compile(self, *args, **kwargs):
        stock_compile(self, *args, **kwargs)
        # A model compiled with the fix keeps it for its life, as the other fixes' graphs do.
        self._adjust_module = types.MethodType(adjust_module, self)

    return _undo_all([_patch(K, "variable", variable), _patch(keras.backend, "variable", variable),
                      _patch(model, "compile", compile)])


_PATCHES = {"bias": _fuse_bias, "rnn": _fuse_rnn, "dense": _fuse_dense, "conv1d": _native_1d,
            "copies": _copy_off_thread}
assert list(_PATCHES) == list(FIXES)

