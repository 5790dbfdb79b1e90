"""A stand-in for shim/fused/'s interface, for tests of the arms and the rows that must not
depend on which fixes the real module has (or on keras): three fixes, and a layer report."""
import sys
import types

FIXES = {"bias": "one Convolution with its bias", "rnn": "one fused RNN operator",
         "copies": "no OpenMP team on the Python thread"}


def module():
    """A fresh module object with shim.fused's interface (FIXES, parse, enable, disable,
    enabled, layers)."""
    fake = types.ModuleType("shim.fused")
    fake.FIXES = dict(FIXES)
    state = {"on": ()}

    def parse(text):
        text = (text or "").strip()
        if text in ("", "all"):
            return tuple(fake.FIXES)
        names = tuple(text.split("+"))
        for name in names:
            if name not in fake.FIXES:
                raise ValueError(f"unknown fix {name!r}; the fixes are "
                                 f"{', '.join(fake.FIXES)}")
        return names

    def enable(fixes=None):
        state["on"] = tuple(fake.FIXES) if fixes is None else parse("+".join(fixes))

    fake.parse = parse
    fake.enable = enable
    fake.disable = lambda: state.update(on=())
    fake.enabled = lambda: state["on"]
    fake.layers = lambda: [
        {"layer": "conv2d_1", "fix": "bias", "fused": True, "reason": ""},
        {"layer": "lstm_1", "fix": "rnn", "fused": False,
         "reason": "recurrent_activation='hard_sigmoid' has no fused kernel; kept as stock"},
    ][: 2 if state["on"] else 0]
    return fake


def install(monkeypatch):
    """Put a fake shim.fused in place for this test; returns it."""
    import shim

    fake = module()
    monkeypatch.setitem(sys.modules, "shim.fused", fake)
    monkeypatch.setattr(shim, "fused", fake, raising=False)
    return fake
