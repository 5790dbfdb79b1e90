"""Stock against the reference: the largest differences and the verdict, within one tolerance.

The tolerance is shim/fused/verify.py's, chosen there once for float32 and used for every
quantity here alike: |stock - keras| <= rtol |keras| + atol elementwise, rtol 2e-4, atol the
larger of 2e-6 and 2e-5 times the largest |element| of Keras's tensor (a sum of many float32
terms rounds to ~1e-7 of its largest terms, so an element near zero is judged on its tensor's
scale). Nothing here is looser.
"""
import numpy as np

from shim.fused.verify import SCALE_ATOL, TOLERANCE

QUANTITIES = (("pred", "predictions"), ("loss", "loss"), ("grad", "gradient of"),
              ("sgd", "SGD step of"), ("adam", "Adam step of"))


def within(reference, stock, absmax=None):
    """(holds, max |difference|) of a stock array against Keras's."""
    reference = np.asarray(reference, np.float64)
    stock = np.asarray(stock, np.float64)
    if reference.shape != stock.shape:
        return False, float("inf")
    scale = float(np.abs(reference).max(initial=0)) if absmax is None else float(absmax)
    atol = max(TOLERANCE["atol"], SCALE_ATOL * scale)
    diff = float(np.abs(stock - reference).max(initial=0))
    return bool(np.allclose(stock, reference, rtol=TOLERANCE["rtol"], atol=atol)), diff


def against(reference, stock):
    """A fixture's entry (an array, or a digest) against stock's full array."""
    from conformance.fixtures import positions

    stock = np.asarray(stock)
    if not isinstance(reference, dict):
        return within(reference, stock)
    if tuple(int(d) for d in reference["shape"]) != stock.shape:
        return False, float("inf")
    flat = stock.astype(np.float64).ravel()
    sample = reference["sample"]
    holds, diff = within(sample, flat[positions(flat.size, len(sample))], reference["absmax"])
    norm_holds = abs(np.sqrt((flat ** 2).sum()) - reference["norm"]) <= \
        TOLERANCE["rtol"] * reference["norm"] + SCALE_ATOL * reference["absmax"] * np.sqrt(flat.size)
    return holds and bool(norm_holds), diff


def compare(stock, reference):
    """{quantity: max |difference|}, and the first thing that differs (None: all match)."""
    maxima, first = {}, None
    stock_entries = {"loss": stock["loss"]}
    stock_entries.update({f"pred/{i}": p for i, p in enumerate(stock["pred"])})
    for q in ("grad", "sgd", "adam"):
        stock_entries.update({f"{q}/{k}": v for k, v in stock[q].items()})
    ref_keys = {k for k in reference if k.split("/")[0] in dict(QUANTITIES)}
    for key in sorted(set(stock_entries) | ref_keys, key=_order):
        quantity, _, weight = key.partition("/")
        what = dict(QUANTITIES)[quantity] + (f" {weight}" if quantity not in ("pred",) and
                                             weight else "")
        if key not in reference or key not in stock_entries:
            side = "Keras" if key in reference else "keras-mxnet"
            first = first or f"only {side} has the {what}"
            maxima[quantity] = float("inf")
            continue
        holds, diff = against(reference[key], stock_entries[key])
        maxima[quantity] = max(maxima.get(quantity, 0.0), diff)
        if not holds and first is None:
            verb = "differ" if quantity == "pred" else "differs"
            first = f"the {what} {verb} (max |difference| {diff:.3g})"
    return maxima, first


def _order(key):
    quantity = key.split("/")[0]
    return ([q for q, _ in QUANTITIES].index(quantity), key)
