"""The shape of a keras-mxnet tensor that MXNet cannot infer with an unknown batch (applied by
shim.keras_mxnet).

A KerasSymbol's shape is its `_keras_shape` (set on the outputs of a layer's `__call__`), else
what MXNet's `infer_shape_partial` says with the batch dimension unknown (0). Through some
graphs (a recurrent layer's loop, whose zero state is built from the input's batch) MXNet infers
nothing and reports (), so `ndim` said 0 and every negative axis resolved against it was wrong:
- `K.concatenate(..., axis=-1)` concatenated along axis 0: a `Bidirectional(LSTM(6))` with
  merge_mode='concat' (its default) stacked the two directions' outputs along the batch, and the
  next Dense failed with "dot shape error: [32,6] X [12,3]" (LSTM or GRU, with or without
  return_sequences, unrolled or not);
- `K.expand_dims(x)` (axis -1) expanded axis 0, which made a stacked recurrent layer's zero
  state (1, N x units) (shim/recurrent.py worked around it there).
Every backend function that resolves an axis from `x.shape` or `ndim(x)` had the same fault.
The same fault dropped the time axis from a sequence loss: Keras's weighted loss averages the
per-timestep losses of a 3-D output over the axes from the sample weights' rank to `ndim`, so
LSTM(return_sequences=True) followed by Dense could not be trained on a 3-D target ("operands
could not be broadcast together with shapes [4,5] [4]").
MXNet can also infer a wrong shape: Concat, one of whose inputs it cannot infer, takes that
input's size along the axis as 0 (babi_memnn's `concatenate([Permute((2, 1))(...), q])`, (None,
4, 12) and (None, 4, 16), came out (0, 4, 16)), and a later partial inference through it then
fails outright: its LSTM's step ("dot shape error: [-1,16] X [28,8]").
Now, where MXNet infers nothing, or its partial inference fails, the shape is inferred again with
the inputs' unknown batch dimension set to 1 and then to 2: a dimension that comes out the same
both times is known, one that follows the batch is reported unknown (0), as MXNet reports it.
"""

from shim import mxnet_backend as backend_module


def _parse(text):
    return tuple(int(d) for d in text.strip("()[] ").split(",") if d.strip())


def _infer(symbol, shapes):
    try:
        _, out, _ = symbol.infer_shape_partial(**shapes)
    except Exception:   # MXNetError: inference itself failed
        return None
    return tuple(out[0]) if out and out[0] else None


def inferred_shape(symbol):
    """The shape of the symbol's (first) output with its inputs' unknown batch dimension (0)
    set to 1 and to 2: dimensions equal in both stay, the others are 0. Only the batch is set
    first: other unknown dimensions (a target's, say) are left to MXNet, which unifies them with
    the known ones; where that is not enough (a loop over an unknown number of steps), every
    unknown dimension is set. None where nothing works: MXNet's own answer stays."""
    inputs = set(symbol.list_inputs())
    declared = {name: _parse(attrs["__shape__"]) for name, attrs in symbol.attr_dict().items()
                if "__shape__" in attrs and name in inputs}
    fillings = (lambda shape, n: (shape[0] or n,) + shape[1:],
                lambda shape, n: tuple(d or n for d in shape))
    for fill in fillings:
        one, two = (_infer(symbol, {name: fill(shape, n) for name, shape in declared.items()
                                    if shape and 0 in shape}) for n in (1, 2))
        if one and two and len(one) == len(two):
            return tuple(a if a == b else 0 for a, b in zip(one, two))
    return None


def patch(keras):
    K = backend_module()
    symbol_cls = K.KerasSymbol
    if getattr(symbol_cls._get_shape, "_shim", False):
        return
    stock_get_shape = symbol_cls._get_shape

    def _get_shape(self):
        try:
            shape = stock_get_shape(self)
        except Exception:   # MXNetError: partial inference itself failed (see below)
            found = None if hasattr(self, "_keras_shape") else inferred_shape(self.symbol)
            if found is None:
                raise
            return found
        if shape or hasattr(self, "_keras_shape"):
            return shape
        return inferred_shape(self.symbol) or shape

    _get_shape._shim = True
    symbol_cls._get_shape = _get_shape
