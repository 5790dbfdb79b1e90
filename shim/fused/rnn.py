"""The rnn fix: a recurrent layer as one MXNet RNN operator (shim/fused/__init__.py lists why)."""
from shim import fused
from shim.fused.convolution import channels_first_source


def rnn(keras):
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

    def backend_rnn(step_function, inputs, initial_states, go_backwards=False, mask=None,
                    constants=None, unroll=False, input_length=None, cell=None, training=None):
        layer, zeros = calling[-1] if calling else (None, False)
        mode, reason = _rnn_mode(keras, layer, cell, mask, constants)
        if layer is not None:
            fused.record(layer.name, "rnn", mode is not None, reason)
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

        source = channels_first_source(inputs.symbol)  # (batch, channels, steps), see conv1d
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

    return fused.undo_all([fused.patch(rnn_layer, "call", call),
                           fused.patch(keras.backend, "rnn", backend_rnn),
                           fused.patch(K, "rnn", backend_rnn)])


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
