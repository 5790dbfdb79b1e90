"""The two jobs of the command: make the reference's fixtures, and judge cases against them.

`reference(cases)` computes each case by keras-mxnet (stock.py), hands the files to tf.keras in
.venv-reference (reference.py, one process for all cases) and keeps what comes back as fixtures;
`evaluate(case)` computes a case by keras-mxnet again and judges it against its fixture
(verdict.py), then keras-fused against stock (fused_check.py): one row of the table.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from conformance import FIXTURES, REFERENCE_PYTHON, ROOT, fixtures, stock, verdict
from conformance.exchange import folder_name


def reference(cases, folder=FIXTURES, python=REFERENCE_PYTHON, log=sys.stderr,
              floatx=("float32", "float64")):
    """Write the fixture of every case, and of every case of verdict.FLOAT64_KINDS computed in
    float64 too (verdict.py's second judgement); floatx: which of the two to make. Returns
    {fixture name: why tf.keras cannot run it, or ''}."""
    made = {}
    jobs = [(case, "float32") for case in cases if "float32" in floatx] + \
        [(case, "float64") for case in cases
         if case.kind in verdict.FLOAT64_KINDS and "float64" in floatx]
    with tempfile.TemporaryDirectory(prefix="conformance-") as work:
        ran, failed = {}, []
        for case, floatx in jobs:
            name = fixtures.in_floatx(case.name, floatx)
            where = os.path.join(work, folder_name(name))
            try:
                out = stock.run(case, where, floatx=floatx)
                ran[name] = (where, fixtures.digest_of(out["x"] + out["y"]), floatx)
            except stock.Fails:
                if floatx == "float32":
                    failed.append(case.name)
            print(f"stock: {name}", file=log, flush=True)
        if ran:
            subprocess.run([python, "-m", "conformance.reference"] +
                           [where for where, _, _ in ran.values()], cwd=ROOT, check=True)
        built = {}
        if failed:   # keras-mxnet cannot build these: can Keras itself?
            done = subprocess.run([python, "-m", "conformance.reference", "--build"] + failed,
                                  cwd=ROOT, check=True, capture_output=True, text=True)
            for line in done.stdout.splitlines():
                if line.startswith("{"):
                    row = json.loads(line)
                    built[row["name"]] = row["cannot"] or ""
        version = _tensorflow(python)
        for name, (where, inputs, floatx) in ran.items():
            cannot, entries = "", None
            if os.path.exists(os.path.join(where, "reference.json")):
                with open(os.path.join(where, "reference.json")) as f:
                    cannot = json.load(f)["cannot"]
            else:
                with np.load(os.path.join(where, "reference.npz")) as f:
                    entries = {k: f[k] for k in f.files}
            fixtures.write(name, fixtures.pack(name, entries, inputs, cannot, version, floatx),
                           folder)
            made[name] = cannot
        for name in failed:
            cannot = built.get(name, "reference.py --build gave no answer")
            fixtures.write(name, fixtures.pack(name, None, "", cannot, version), folder)
            made[name] = cannot
    return made


def _tensorflow(python):
    done = subprocess.run([python, "-c", "import importlib.metadata as m; "
                           "print(m.version('tensorflow-cpu'))"],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def evaluate(case, folder=FIXTURES, fused=True):
    """One row of the table: the case's three verdicts."""
    row = {"case": case.name, "kind": case.kind, "class": case.tags.get("class", ""),
           "data_format": case.tags.get("data_format", "") or case.data_format or "",
           "stock": "", "detail": "", "predictions": "", "loss": "", "gradients": "",
           "sgd_step": "", "adam_step": "", "h5": "", "training": "", "fixes": "", "fused": "",
           "kept": "", "tensorflow": ""}
    ref = fixtures.read(case.name, folder)
    if ref is not None:
        row["tensorflow"] = str(ref["tensorflow"])
    with tempfile.TemporaryDirectory(prefix="conformance-") as work:
        try:
            out = stock.run(case, work)
        except stock.Fails as failure:
            out = None
            row["detail"] = str(failure)
    if ref is None:
        row["stock"] = "no reference"
        row["detail"] = row["detail"] or "no fixture: run `python -m conformance reference`"
    elif out is None:
        row["stock"] = "keras cannot run" if str(ref["cannot"]) else "fails"
        if str(ref["cannot"]):
            row["detail"] += f"; tf.keras: {ref['cannot']}"
    elif str(ref["cannot"]):
        row["stock"], row["detail"] = "keras cannot run", f"tf.keras: {ref['cannot']}"
    elif fixtures.digest_of(out["x"] + out["y"]) != str(ref["inputs"]):
        row["stock"] = "stale reference"
        row["detail"] = "the case's inputs changed since its fixture was made: run " \
                        "`python -m conformance reference --case NAME`"
    else:
        _judge(row, out, ref, case, folder)
    if fused:
        row.update(_fused(case, out and out["model"]))
    return row


def _judge(row, out, ref, case=None, folder=FIXTURES):
    maxima, first = verdict.compare(out, ref)
    conditioned = ""
    if first and case is not None and _in_training(first):
        first, conditioned = _within_conditioning(case, out, ref, first)
        if first:
            first, conditioned = _in_float64(case, first, folder)
    for quantity, column in (("pred", "predictions"), ("loss", "loss"), ("grad", "gradients"),
                             ("sgd", "sgd_step"), ("adam", "adam_step")):
        if quantity in maxima:
            row[column] = f"{maxima[quantity]:.3g}"
    row["h5"] = "; ".join(filter(None, [out["h5_holds"], out["round_trip"]])) or "holds"
    row["training"] = out.get("derandomized") or "as built"
    problems = [p for p in (first, None if row["h5"] == "holds" else f"h5: {row['h5']}") if p]
    row["stock"] = "differs" if problems else "matches"
    row["detail"] = "; ".join(problems) or conditioned


def _in_training(first):
    """Whether the first difference is a training quantity's (predictions match)."""
    return not first.startswith(("the predictions", "only"))


def _within_conditioning(case, out, ref, first, floatx="float32", only=None):
    """(what still differs or None, the note saying so) once the training quantities are
    judged within CONDITIONED x how far stock moves with its inputs and weights nudged by one
    unit in the last place, the largest over up to verdict.NUDGES nudges; a nudged run
    failing leaves the verdict as it was. out: a run in `floatx`; only: as verdict.compare's."""
    scale = verdict.FLOAT64 if floatx == "float64" else 1.0
    spreads, still, ways = {}, first, 0
    for draw in range(verdict.NUDGES):
        with tempfile.TemporaryDirectory(prefix="conformance-") as work:
            try:
                nudged = stock.run(case, work, nudge=draw, model=out.get("model"),
                                   floatx=floatx)
            except stock.Fails:
                break
        ways += 1
        for key, (peak, norm) in verdict.spread(out, nudged).items():
            old = spreads.get(key, (0.0, 0.0))
            spreads[key] = (max(peak, old[0]), max(norm, old[1]))
        _, still = verdict.compare(out, ref, spreads, scale, only)
        if not still:   # more nudges only widen the spread: the verdict would not change
            break
    if not ways:
        return first, ""
    largest = {q: max((s[0] for k, s in spreads.items() if k.split("/")[0] == q), default=0.0)
               for q in ("loss", "grad")}
    note = (f"ill-conditioned in training: inputs and weights nudged by one ulp "
            f"({ways} way{'s' if ways > 1 else ''}) move stock's loss by up to "
            f"{largest['loss']:.3g} and its gradients by up to {largest['grad']:.3g}")
    if still:
        return f"{still}, beyond {verdict.CONDITIONED} x its {floatx} conditioning ({note})", ""
    return None, f"training within {verdict.CONDITIONED} x its {floatx} conditioning ({note})"


IN_FLOAT64 = "computed in float64 on both sides"   # the note's words; table.py counts them


def _in_float64(case, first, folder=FIXTURES):
    """The second judgement (verdict.py): (what still differs or None, the note saying so)
    once the case, computed in float64 on both sides, has its predictions, loss and gradients
    within the float64 tolerance (and its float64 conditioning). Only where float32's first
    difference is the loss or a gradient: an optimizer step is a function of the weights and
    the gradient alone, judged in float32 on every other case, and in float64 it is not Keras's
    function (MXNet's update operators hold lr, the betas and epsilon as float32 attributes,
    DenseNet201's bn#0 step 1.07e-11 apart; tf.keras's BatchNormalization updates its moving
    variance with the unbiased batch variance in its float32-only fused kernel, with the biased
    one in float64, 5.5e-4 apart on a 3 x 3 map). The float32 verdict stands where the case
    has no float64 fixture or its float64 run fails."""
    if not first.startswith(("the loss", "the gradient")):
        return first, ""
    ref = fixtures.read(fixtures.in_floatx(case.name, "float64"), folder)
    if ref is None or str(ref["cannot"]):
        return first, ""
    with tempfile.TemporaryDirectory(prefix="conformance-") as work:
        try:
            out = stock.run(case, work, floatx="float64")
        except stock.Fails as failure:
            return f"{first}; in float64 keras-mxnet {failure}", ""
    if fixtures.digest_of(out["x"] + out["y"]) != str(ref["inputs"]):
        return f"{first}; its float64 fixture is stale", ""
    _, again = verdict.compare(out, ref, scale=verdict.FLOAT64, only=_in_float64_judged)
    note = ""
    if again and _in_training(again):
        again, note = _within_conditioning(case, out, ref, again, "float64",
                                           _in_float64_judged)
    if again:
        return f"{first}; in float64 too: {again}", ""
    return None, (f"in float32, {first}; {IN_FLOAT64}, its predictions, loss and gradients "
                  f"match Keras within the float64 tolerance{f' ({note})' if note else ''}: "
                  "the float32 difference is rounding")


def _in_float64_judged(key):
    return key.split("/")[0] in ("pred", "loss", "grad")


def _fused(case, built=None):
    from conformance.fused_check import check

    return check(case, built)


def fused_category(text):
    """A fused verdict in one word, as expected.json pins it."""
    if not text:
        return "not run"
    for category in ("verified", "no fix applies", "stock fails to build"):
        if text == category:
            return category
    if text.startswith(("fails to build", "cannot be compared")):
        return "fails"
    return "differs"
