"""Stock against the reference: the largest differences and the verdict, within one tolerance.

The tolerance is shim/fused/verify.py's, chosen there once for float32 and used for every
quantity here alike: |stock - keras| <= rtol |keras| + atol elementwise, rtol 2e-4, atol the
larger of 2e-6 and 2e-5 times the largest |element| of Keras's tensor (a sum of many float32
terms rounds to ~1e-7 of its largest terms, so an element near zero is judged on its tensor's
scale).

One looser rule, for the training quantities (loss, gradients, SGD and Adam steps) only, and
only where float32 cannot do better: some models are ill-conditioned in training (a
BatchNormalization in training mode over 2 values per channel, at a 1x1 map of an application
at batch 2, divides by sqrt(var + eps) with var near 0, and stacks of them amplify float32
rounding up to 1e11; a cross-entropy of a tanh output takes log(p) at p ~ 1e-4, a difference of
O(1) terms). There, keras-mxnet differs from itself by as much as from Keras when its inputs
and weights move by one unit in the last place (measured: stock against Keras / stock against
itself so nudged, 0.3 to 2 on the applications and the mnist_acgan generator), so the
float32 tolerance cannot tell a defect from rounding. Such a quantity is judged within
CONDITIONED x that spread, tensor by tensor (`spread`, from stock.run(nudge=draw)): 8, for
the ratio's spread from tensor to tensor. The spread is the largest over up to NUDGES nudges
(conformance/run.py stops at the first that holds; more could only widen it): where training is
chaotic, one nudge's move is itself a draw (ResNet50 at batch 2: a loss moved by 0.002 to 0.131
over five draws), and a single draw made the verdict turn on the draw and the CPU (ResNet50
matched on an Intel Xeon and differed on an AMD EPYC, 2026-12-04). Predictions (inference mode) keep the float32
tolerance, and the row says that its training was judged so, and how large the spread was.

What a one-ulp nudge does not reach (issue 30, lab/application_conditioning_probe.py): where a
BatchNorm's training output has an element within float32 reach of 0 and a ReLU follows, the
two sides can put it on opposite sides of the ReLU's kink (Xception's block9_sepconv2_bn,
channel 84: -1.37e-6 in keras-mxnet, +4.28e-6 in tf.keras; InceptionResNetV2 at 139, one
element of batch_normalization_200, -1.83e-5 against +1.04e-5, every gradient above it
agreeing; DenseNet201 at 96, nine elements of conv5's BatchNorms), and every gradient below
differs, one channel first, by far more than the nudge moves it. A rule loose enough to pass
that in float32 would pass a real defect in the same gradients, and redrawing the weights does
not help: a larger model has more elements, so some kink is within rounding in most draws
(probe `redraw`: each of the two matched in one of 2 other draws). So where the loss or a
gradient differs, the case is judged a second time, computed in float64 on both sides from the
same drawn numbers (conformance/run.py, `_in_float64`; its fixture `NAME@float64`, made for
FLOAT64_KINDS): its predictions, loss and gradients, by this same rule with the tolerance scaled
by FLOAT64. Rounding there is 1e-16, a kink within its reach is as rare as that, and a defect
differs in float64 as it did in float32. (Not its optimizer steps: a function of the weights
and the gradient alone, judged on every other case in float32, and in float64 not Keras's
function on either side; run.py says why.) Whether a float32 kink flips turns
on the CPU's kernels (on the Intel Xeon Xception's did; on an AMD EPYC, 2026-12-04, it matched
outright), so the application pins allow both verdicts where training alone differs
(tests/test_conformance.py: TRAINING_TURNS_ON_THE_CPU).
"""
import numpy as np

# CONDITIONED lives with the tolerance: shim/fused/verify.py judges keras-fused against stock
# by the same rule, and shim must not import conformance.
from shim.fused.verify import CONDITIONED, NUDGES, SCALE_ATOL, TOLERANCE

TRAINING = ("loss", "grad", "sgd", "adam")
# The second judgement: the float32 tolerance scaled by float64's unit roundoff over float32's
# (2**-29), so that it allows the same multiple of the rounding; for the kinds whose fixtures
# are made in float64 too (conformance/run.py: reference).
FLOAT64 = float(np.finfo(np.float64).eps / np.finfo(np.float32).eps)
FLOAT64_KINDS = ("applications",)
QUANTITIES = (("pred", "predictions"), ("loss", "loss"), ("grad", "gradient of"),
              ("sgd", "SGD step of"), ("adam", "Adam step of"))


def within(reference, stock, absmax=None, slack=0.0, scale=1.0):
    """(holds, max |difference|) of a stock array against Keras's; slack: a larger atol
    (CONDITIONED x the spread, for an ill-conditioned quantity); scale: the float32 tolerance's
    factor (FLOAT64 for a case computed in float64)."""
    reference = np.asarray(reference, np.float64)
    stock = np.asarray(stock, np.float64)
    if reference.shape != stock.shape:
        return False, float("inf")
    largest = float(np.abs(reference).max(initial=0)) if absmax is None else float(absmax)
    atol = max(TOLERANCE["atol"] * scale, SCALE_ATOL * largest * scale, slack)
    diff = float(np.abs(stock - reference).max(initial=0))
    return bool(np.allclose(stock, reference, rtol=TOLERANCE["rtol"] * scale, atol=atol)), diff


def against(reference, stock, spread=(0.0, 0.0), scale=1.0):
    """A fixture's entry (an array, or a digest) against stock's full array; spread: (max
    |difference|, L2 norm of the difference) of stock against itself nudged, or zeros; scale:
    as `within`'s."""
    from conformance.fixtures import positions

    stock = np.asarray(stock)
    slack, norm_slack = (CONDITIONED * s for s in spread)
    if not isinstance(reference, dict):
        return within(reference, stock, slack=slack, scale=scale)
    if tuple(int(d) for d in reference["shape"]) != stock.shape:
        return False, float("inf")
    flat = stock.astype(np.float64).ravel()
    sample = reference["sample"]
    holds, diff = within(sample, flat[positions(flat.size, len(sample))], reference["absmax"],
                         slack, scale)
    norm_holds = abs(np.sqrt((flat ** 2).sum()) - reference["norm"]) <= \
        (TOLERANCE["rtol"] * reference["norm"] +
         SCALE_ATOL * reference["absmax"] * np.sqrt(flat.size)) * scale + norm_slack
    return holds and bool(norm_holds), diff


def entries(stock):
    """{key: array} of what stock computed, keyed as the fixtures are."""
    found = {"loss": stock["loss"]}
    found.update({f"pred/{i}": p for i, p in enumerate(stock["pred"])})
    for q in ("grad", "sgd", "adam"):
        found.update({f"{q}/{k}": v for k, v in stock[q].items()})
    return found


def spread(stock, nudged):
    """{training key: (max |difference|, L2 norm of the difference)} between stock's results
    and stock's own with its inputs and weights nudged by one unit in the last place."""
    ours, theirs = entries(stock), entries(nudged)
    found = {}
    for key, value in ours.items():
        if key.split("/")[0] in TRAINING and key in theirs and \
                np.shape(value) == np.shape(theirs[key]):
            diff = np.abs(np.asarray(value, np.float64) - np.asarray(theirs[key], np.float64))
            if not np.isfinite(diff).all():
                continue   # no slack from a spread that is not finite
            found[key] = (float(diff.max(initial=0)), float(np.sqrt((diff ** 2).sum())))
    return found


def compare(stock, reference, spreads=None, scale=1.0, only=None):
    """{quantity: max |difference|}, and the first thing that differs (None: all match);
    spreads (from `spread`): judge each training quantity within CONDITIONED x its own;
    scale: the tolerance's factor (FLOAT64 for a case computed in float64); only: a predicate
    on the keys to judge (all where None)."""
    maxima, first = {}, None
    stock_entries = entries(stock)
    ref_keys = {k for k in reference if k.split("/")[0] in dict(QUANTITIES)}
    for key in sorted(set(stock_entries) | ref_keys, key=_order):
        if only is not None and not only(key):
            continue
        quantity, _, weight = key.partition("/")
        what = dict(QUANTITIES)[quantity] + (f" {weight}" if quantity not in ("pred",) and
                                             weight else "")
        if key not in reference or key not in stock_entries:
            side = "Keras" if key in reference else "keras-mxnet"
            first = first or f"only {side} has the {what}"
            maxima[quantity] = float("inf")
            continue
        holds, diff = against(reference[key], stock_entries[key],
                              (spreads or {}).get(key, (0.0, 0.0)), scale)
        maxima[quantity] = max(maxima.get(quantity, 0.0), diff)
        if not holds and first is None:
            verb = "differ" if quantity == "pred" else "differs"
            first = f"the {what} {verb} (max |difference| {diff:.3g})"
    return maxima, first


def _order(key):
    quantity = key.split("/")[0]
    return ([q for q, _ in QUANTITIES].index(quantity), key)
