"""Opt-in: a Keras user's unchanged model trained at Gluon's speed, computing the same function.

    from shim.keras_mxnet import keras
    from shim import fused
    fused.enable()              # before the model is built; fused.enable(["rnn"]) for one fix
    model = build_my_model()    # unchanged Keras code, compiled and fitted as ever

Importing shim.keras_mxnet alone changes none of this. keras-mxnet builds its graph out of small
operators where MXNet has one fused operator for the same function (docs/findings.md);
MXNet's own oneDNN graph fusion cannot help, as it is inference-only. So each fix below builds the
faster graph where Keras builds it, from Keras's own variables: the weights keep their names,
shapes and h5 layout (a model saved here loads in stock keras-mxnet, and the other way round),
and gradients reach the same variables. A layer a fix cannot compute exactly stays stock, with
one log line naming it and why. tests/test_fused.py holds each fix to keras's function:
predictions, loss, every gradient, and the parameters after an SGD and an Adam step.
"""
import importlib
import logging

FIXES = {
    # name: why
    "bias": "a Conv1D/2D/3D with a bias is one Convolution with its bias, not a bias-free "
            "Convolution then a broadcast_add, whose backward reduces the whole output",
    "rnn": "an LSTM, a GRU(reset_after=True) or a SimpleRNN that MXNet's fused RNN operator "
           "computes (sigmoid gates, no dropout, no mask, not stateful) is one RNN operator, "
           "not a step-by-step graph of dots and adds",
    "dense": "a Dense is one FullyConnected on its transposed kernel, not a dot then a "
             "broadcast_add, whose backward is slower (docs/fused.md: measured)",
    "conv1d": "a Conv1D and a 1-D pooling run as 1-D MXNet operators, not as 2-D ones on an "
              "added axis of size 1, without the channels_last transposes between them "
              "(docs/fused.md: measured)",
    "copies": "initial weights and fit's per-batch inputs reach MXNet off the Python thread, "
              "whose OpenMP team would slow every later operator (shim/arrays.py)",
}

# Where each fix lives: shim/fused/<module>.py, whose function of the fix's name patches keras
# and returns how to take the patch back.
_MODULES = {"bias": "convolution", "rnn": "rnn", "dense": "dense", "conv1d": "convolution",
            "copies": "copies"}
assert list(_MODULES) == list(FIXES)

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
        module = importlib.import_module(f"shim.fused.{_MODULES[name]}")
        _undo.append(getattr(module, name)(keras))
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


def record(layer, fix, fused, reason=""):
    key = (layer, fix)
    if key in _layers:
        return
    _layers[key] = {"layer": layer, "fix": fix, "fused": fused, "reason": reason}
    if not fused:
        log.warning("%s: %s; kept as stock", layer, reason)


def patch(owner, name, value):
    """Set owner.name, returning how to undo it."""
    old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, value)
    return lambda: setattr(owner, name, old)


def undo_all(undos):
    def undo():
        for u in reversed(undos):
            u()
    return undo


def as_keras_dtype(mx, symbol):
    """A fused operator's output in the dtype Keras's own graph has there. Under bfloat16 AMP
    (shim/precision.py) Convolution and FullyConnected return bfloat16, which stock keras-mxnet
    only ever adds to a float32 bias (float32 out) and which its dtype code can't name; float32
    runs get no cast at all."""
    from mxnet.contrib.amp import amp

    return mx.sym.amp_cast(symbol, dtype="float32") if amp._amp_initialized else symbol


def add_method(cls, name, value):
    """Give a class an attribute it only inherits now, returning how to take it away."""
    assert name not in cls.__dict__
    setattr(cls, name, value)
    return lambda: delattr(cls, name)
