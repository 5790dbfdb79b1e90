"""A tensor's inferred shape is computed once, not at every query (applied by shim.keras_mxnet):
a pure performance mend, every shape is the one MXNet (and shim/shapes.py) would give.

keras-mxnet's KerasSymbol has no shape of its own until a layer's `__call__` sets `_keras_shape`
on its outputs; until then each `x.shape`, `K.ndim(x)` or `K.int_shape(x)` runs MXNet's shape
inference over the tensor's whole graph (and shim/shapes.py up to four more where MXNet infers
nothing). The backend asks several times per intermediate tensor, each over a graph that grows
with the model: judging applications.NASNetMobile's conformance case (four builds) ran 48,722
whole-graph inferences, 53% of its time (DenseNet121's: 15,286, 21%). The answer is now kept on
the KerasSymbol, beside the MXNet symbol it was inferred for: 23,296 (and 8,142) inferences are
left, one per tensor and learning phase, a tensor's first query.

Why a kept shape cannot be stale. The shape is a function of the MXNet symbol's graph alone
(`_keras_shape`, which wins, is looked up first at every query, as stock does). The memo holds
the very symbol object it was computed for, so its id can't be reused, and is used only while
(1) the KerasSymbol still answers with that object (the learning phase picks the train or the
prediction symbol; keras-mxnet swaps `_pred_sym` in after tracing), (2) that object still has
the same C handle (`_set_handle`, or `handle =`, would point it at another graph), and (3) no
graph has been changed in place since. An MXNet symbol's graph is immutable (`+=` and the like
raise) except through `_compose`, `_set_attr` (which can change a variable's declared shape or
an operator's parameters, in every graph that shares the node) and contrib's `_cut_subgraph`:
each of those, called on a symbol anyone may already hold, bumps a generation that every memo
checks. MXNet's own creators call `_compose` or `_set_attr` on the symbol they are making, which
no graph shares yet: those calls (from `var`, the operator creator and `Symbol.__call__`, which
composes a deep copy) are recognised by their caller's code and leave the generation alone.
A caller of the C API itself (MXSymbolSetAttr through ctypes) is the one way around this: none
exists in keras, the shim or the project.
"""
import sys

from shim import mxnet_backend as backend_module

_generation = [0]   # bumped by every in-place change to a graph someone may hold
_stats = {"hits": 0, "misses": 0}   # for tests: that the memo is used, and how much


def _guarded(method, creators):
    def guarded(*args, **kwargs):
        # A creator mutates only the symbol it has just made and returns: no graph shares it.
        fresh = sys._getframe(1).f_code in creators
        if not fresh:
            _generation[0] += 1
        try:
            return method(*args, **kwargs)
        finally:
            if not fresh:   # a shape inferred during the change (another thread) is not kept
                _generation[0] += 1

    guarded._shim = True
    guarded.__wrapped__ = method
    return guarded


def _guard_mutators():
    import mxnet as mx
    from mxnet._ctypes import symbol as ctypes_symbol
    from mxnet.symbol import contrib, symbol as symbol_module

    if getattr(symbol_module.Symbol._compose, "_shim", False):
        return
    creators = {symbol_module.var.__code__, symbol_module.Symbol.__call__.__code__,
                ctypes_symbol._symbol_creator.__code__}
    for cls in (mx.sym.Symbol, ctypes_symbol.SymbolBase):
        for name in ("_compose", "_set_attr", "_set_handle"):
            if name in vars(cls):
                setattr(cls, name, _guarded(vars(cls)[name], creators))
    contrib._cut_subgraph = _guarded(contrib._cut_subgraph, creators)


def _handle(symbol):
    return symbol.handle.value if symbol.handle is not None else None


def patch(keras):
    K = backend_module()
    symbol_cls = K.KerasSymbol
    if getattr(symbol_cls._get_shape, "_memo", False):
        return
    _guard_mutators()
    inferred = symbol_cls._get_shape   # stock's, as shim/shapes.py mends it

    def _get_shape(self):
        if hasattr(self, "_keras_shape"):
            return self._keras_shape
        symbol = self.symbol
        memo = self.__dict__.get("_shim_shape_memo")
        if (memo is not None and memo[0] is symbol and memo[1] == _handle(symbol)
                and memo[2] == _generation[0]):
            _stats["hits"] += 1
            return memo[3]
        _stats["misses"] += 1
        generation = _generation[0]
        shape = inferred(self)   # an inference that fails raises every time, as before
        if isinstance(shape, tuple):   # immutable: a caller can't change the kept answer
            self._shim_shape_memo = (symbol, _handle(symbol), generation, shape)
        return shape

    _get_shape._shim = _get_shape._memo = True
    symbol_cls._get_shape = _get_shape
