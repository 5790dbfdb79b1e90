"""keras-mxnet's recurrent layers made to compute Keras's function (applied by shim.keras_mxnet).

Two defects of keras-mxnet 2.2.4.3 on MXNet 1.9.1, both in the stock path every Keras user gets:

- The default loop (`unroll=False`: `K.rnn` over `mx.sym.contrib.foreach`) did not compute with
  the layer's weights. Its step functions are written in raw `mx.sym`, so the loop's output
  KerasSymbol has no link to the cell's variables (nor to the layers before it): Keras's
  `dfs_get_bind_values` never finds their values, the Module starts them at zero, and a fresh
  `LSTM` predicts exactly 0.0 whatever `set_weights` said, while `get_weights` reports values it
  never used. The same hand-written steps also added `bias_i` to all four gates of
  `implementation=1`, and drew a dropout mask per step (Keras: one per sequence).
  Now a default layer whose sequence length is known runs Keras's unrolled loop, which steps with
  the cell's own `call`: Keras's function (hard_sigmoid gates, both implementations, dropout),
  the graph this benchmark always measured, and none of the memory foreach held (docs/fused.md).
  With an unknown length (`input_shape=(None, features)`) it stays a `foreach` loop, but over
  Keras's own cell step, as one KerasSymbol operation whose neighbours are the inputs, the
  initial states and the cell's weights (dropout there still draws a mask per step).
- A recurrent layer after another's sequences (stacked LSTMs with `return_sequences`) could not be
  built: `get_initial_state` calls `K.expand_dims(x)` (axis -1), which keras-mxnet resolves from
  a shape MXNet cannot infer there, so it expanded axis 0 and the zero state became (1, N * units).
  The zero state now expands axis 1, as Keras means.
- A recurrent layer with dropout or recurrent_dropout could not be built through the unrolled
  loop (with a known length, so through the mend above): its cell's dropout mask, cached in the
  training trace, was reused in the inference trace, where it has no graph. Each trace now
  draws its own (`masks_per_phase`).
"""

from shim import mxnet_backend as backend_module


def patch(keras):
    K = backend_module()
    if getattr(K.rnn, "_shim_foreach", False):
        return
    stock_rnn = K.rnn

    def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None,
            constants=None, unroll=False, input_length=None, cell=None, training=None):
        if unroll or cell is None:
            return stock_rnn(step_function, inputs, initial_states, go_backwards, mask,
                             constants, unroll, input_length, cell, training)
        if inputs.shape[1]:  # a known length: Keras's unrolled loop
            return stock_rnn(masks_per_phase(step_function, cell), inputs, initial_states,
                             go_backwards, mask, constants, True, input_length, cell, training)
        return foreach_rnn(step_function, inputs, list(initial_states), go_backwards, mask,
                           list(constants or []), cell)

    rnn._shim_foreach = True
    K.rnn = rnn
    keras.backend.rnn = rnn  # what keras.layers.recurrent calls

    def get_initial_state(self, inputs):
        state = K.expand_dims(K.sum(K.zeros_like(inputs), axis=(1, 2)), axis=1)  # (samples, 1)
        sizes = self.cell.state_size if hasattr(self.cell.state_size, "__len__") else [
            self.cell.state_size]
        return [K.tile(state, [1, size]) for size in sizes]

    keras.layers.RNN.get_initial_state = get_initial_state


def forget_masks(cell):
    """A cell's cached dropout masks dropped (those of each cell of a StackedRNNCells)."""
    for one in getattr(cell, "cells", [cell]):
        for cached in ("_dropout_mask", "_recurrent_dropout_mask"):
            if hasattr(one, cached):
                setattr(one, cached, None)


def masks_per_phase(step_function, cell):
    """The step function, with the cell's dropout masks drawn anew in each learning phase's trace.

    keras-mxnet traces K.rnn once per learning phase; a cell caches its dropout mask on its first
    step (Keras's LSTM.call resets it once per call), so the inference trace reused the training
    trace's mask, a symbol with no inference graph: any recurrent layer with dropout or
    recurrent_dropout failed to build ("[Debug Info] <Symbol lstm_1/dropout1>, None")."""
    K = backend_module()
    traced = set()

    def step(*args):
        if K.learning_phase() not in traced:
            traced.add(K.learning_phase())
            forget_masks(cell)
        return step_function(*args)

    return step


def _foreach_rnn(step_function, inputs, initial_states, go_backwards, mask, constants, cell,
                 weights):
    """`K.rnn`'s contract (last output, outputs, new states) over `foreach`, stepping with Keras's
    own step function. `weights` is unused in the body: as an argument it makes the cell's
    variables neighbours of the result, which is how keras-mxnet finds their values."""
    import mxnet as mx

    K = backend_module()
    # Traced once per learning phase: a dropout mask a cell cached in one trace is a symbol of
    # that trace's loop body, which the other cannot use.
    forget_masks(cell)
    x = inputs.symbol
    if go_backwards:
        x = mx.sym.reverse(x, axis=1)
    axes = [1, 0] + list(range(2, len(inputs.shape)))
    data = [mx.sym.transpose(x, axes=axes)]  # time major
    states = [s.symbol for s in initial_states]
    n = len(states)
    if mask is not None:
        keep = mx.sym.cast(mask.symbol, dtype=inputs.dtype)
        if go_backwards:
            keep = mx.sym.reverse(keep, axis=1)
        data.append(mx.sym.transpose(keep, axes=(1, 0)))
        # A masked step repeats the previous output (as K.rnn's unrolled loop): carry it.
        states.append(mx.sym.zeros_like(states[0]))

    def body(step, carried):
        output, new_states = step_function(K.KerasSymbol(step[0]),
                                           [K.KerasSymbol(s) for s in carried[:n]] + constants)
        output, new_states = output.symbol, [s.symbol for s in new_states]
        if mask is not None:
            new_states = [mx.sym.where(step[1], new, old)
                          for new, old in zip(new_states, carried[:n])]
            output = mx.sym.where(step[1], output, carried[n])
            new_states.append(output)
        return output, new_states

    outputs, final = mx.sym.contrib.foreach(body, data, states)
    last = mx.sym.squeeze(mx.sym.slice_axis(outputs, axis=0, begin=-1, end=None), axis=0)
    final = final if isinstance(final, list) else [final]
    return (K.KerasSymbol(last), K.KerasSymbol(mx.sym.transpose(outputs, axes=axes)),
            [K.KerasSymbol(s) for s in final[:n]])


def cell_variables(cell):
    """The cell's weights; for a cell that is not a Layer (Keras accepts any object with `call`
    and `state_size`), the Keras variables among its attributes."""
    if hasattr(cell, "weights"):
        return list(cell.weights)
    K = backend_module()
    found = []
    for value in vars(cell).values():
        for one in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(one, K.KerasSymbol) and one.tensor is not None:
                found.append(one)
    return found


def foreach_rnn(step_function, inputs, initial_states, go_backwards, mask, constants, cell):
    K = backend_module()
    loop = K.keras_mxnet_symbol(_foreach_rnn)  # a train and a test graph, and the neighbours
    last, outputs, states = loop(step_function, inputs, initial_states, go_backwards, mask,
                                 constants, cell, cell_variables(cell))
    last._uses_learning_phase = 0 < getattr(cell, "dropout", 0) + getattr(
        cell, "recurrent_dropout", 0)
    return last, outputs, states
