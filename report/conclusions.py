"""The conclusions of a folder's summary.md: sentences computed from its rows.

Every number in a conclusion comes from the rows (through the same functions the summary tables
use), and is quoted next to the claim it supports. Where the data cannot support a claim (one
repeat, spread wider than the effect), the text says so instead of concluding.
"""
from statistics import median

from cell import arms
from cell.arms import FUSED
from report import frame
from report.names import context_label, format_rate, group_title, impl_name, text
from report.ratios import paired_ratios
from report.storage import device_kind
from report.frame import median_of, per_device_batch

SATURATION_FRACTION = 0.9
# the hand-written twins of the scenarios' models (gluon, torch), whose accuracy Keras's meets
TWINS = [arm.name for arm in arms.ARMS if arm.scenario_only]


def _cell(r):
    """Where a ratio or a row was measured: 'cpu, first 1,024 samples, 1 thread, by turns, batch
    128', its whole context (frame.GROUP's) but the data kind, which the caller says. Two
    configurations never read alike: the label once left out the threads, the prefix and the
    method, so one folder's page gave two different ratios the same words."""
    where = context_label(r["ctx"], r["workers"], dtype=r["dtype"], samples=r["samples"],
                          threads=r["threads"], by_turns=r["by_turns"])
    return f"{where}, batch {r['batch_size']}"


def _data_note(data):
    return " (synthetic data)" if data == "synthetic" else ""


def _spans(ratios):
    """[(scenario, KIND, data note, cells, lowest, highest)] of ratios grouped by scenario,
    device kind and data, sorted."""
    keyed = [dict(scenario=r.scenario, kind=device_kind(r.ctx), data=r.data, ratio=r)
             for r in ratios]
    found = []
    for (scenario, kind, data), same in frame.grouped(keyed, ["scenario", "kind", "data"]):
        cells = [c["ratio"] for c in same]
        found.append((scenario, kind.upper(), _data_note(data), cells,
                      min(cells, key=lambda r: r["ratio"]), max(cells, key=lambda r: r["ratio"])))
    return found


def overhead_conclusions(rows):
    lines = []
    for scenario, kind, data, cells, low, high in _spans(paired_ratios(rows, "keras", "gluon")):
        single = sum(r["ci_low"] is None for r in cells)
        straddling = sum(r["ci_low"] is not None and r["ci_low"] <= 1 <= r["ci_high"]
                         for r in cells)
        said = {"overhead-one": len(cells) == 1, "overhead-range": len(cells) > 1,
                "overhead-faster": low["ratio"] < 1, "overhead-weak": single == len(cells),
                "overhead-some-single": 0 < single < len(cells),
                "overhead-straddling": straddling,
                "overhead-before-rounds": any(r["before_rounds"] for r in cells)}
        lines.append(" ".join(text("conclusions", name) for name, true in said.items() if true)
                     .format(scenario=scenario, kind=kind, data=data, n=len(cells), low=low,
                             high=high, where_low=_cell(low), where_high=_cell(high),
                             single=single, straddling=straddling))
    return lines or [text("conclusions", "no-overhead")]


def torch_conclusions(rows):
    return [text("conclusions", "torch").format(
        scenario=scenario, kind=kind, data=data, impl=impl_name(impl), low=low, high=high,
        n=len(cells), where=_cell(high))
        + (" One repeat per cell: weak evidence." if all(r["ci_low"] is None for r in cells)
           else "")
        for impl in ("gluon", "keras")
        for scenario, kind, data, cells, low, high in _spans(paired_ratios(rows, impl, "torch"))]


def saturation_conclusions(rows):
    """One sub-bullet per context: for each arm, the smallest batch reaching 90% of its max."""
    # {GROUP + (arm,): {batch: (median samples/s, rounds)}}: one configuration's series, so no
    # median pools two prefixes, thread settings or models
    every = {key: {batch: (median_of(same, "samples_per_s"), len(same))
                   for (batch,), same in frame.grouped(cells, ["batch_size"])}
             for key, cells in frame.grouped(frame.records(frame.finished(rows)),
                                             frame.GROUP + ["arm"])}
    series = {k: v for k, v in every.items() if len(v) >= 2}
    if not series:
        return ["Throughput saturation: no implementation was run at two or more batch sizes."]
    # a context names its prefix and threads where the folder's configurations differ in them
    same = [i for i, name in enumerate(frame.GROUP) if name in ("samples", "threads")
            and len({key[i] for key in every}) == 1]
    found = {}   # per configuration: its line's start, and a text per arm
    for key, by_batch in sorted(series.items()):
        scenario, *context = [(0, "all")[i == 6] if i in same else v
                              for i, v in enumerate(key[:-1])]
        best_batch = max(by_batch, key=lambda b: by_batch[b][0])
        best = by_batch[best_batch][0]
        first = min(b for b in by_batch if by_batch[b][0] >= SATURATION_FRACTION * best)
        said = f"{impl_name(key[-1])} " + (
            f"still rising at the largest batch tried ({first}: "
            f"{format_rate(by_batch[first][0])} samples/s)" if first == max(by_batch) else
            f"from batch {first} ({format_rate(by_batch[first][0])} samples/s; max "
            f"{format_rate(best)} at batch {best_batch})")
        if all(n < 2 for _, n in by_batch.values()):
            said += ", one repeat: weak evidence"
        found.setdefault(key[:-1], (f"{scenario} on {context_label(*context)}: ", []))[1].append(
            said)
    return ["Throughput saturation: smallest global batch reaching "
            f"{SATURATION_FRACTION:.0%} of the implementation's maximum samples/s:",
            [start + "; ".join(texts) + "." for start, texts in found.values()]]


def scaling_series(rows):
    """{(scenario, kind, arm, per-device batch, *frame.GROUP but its context):
    {devices*workers: median samples/s} (the scaling conclusions and the scaling plot)."""
    cells = [dict(r, kind=device_kind(r["ctx"]), per_device=per_device_batch(r),
                  contexts=(r.get("devices") or 1) * r["workers"])
             for r in frame.records(frame.finished(rows))]
    keys = ["scenario", "kind", "arm", "per_device"] + [
        k for k in frame.GROUP if k not in ("scenario", "ctx", "workers")]
    return {key: {n: median_of(same, "samples_per_s")
                  for (n,), same in frame.grouped(part, ["contexts"])}
            for key, part in frame.grouped(cells, keys)}


def scaling_conclusions(rows):
    lines = []
    for (scenario, kind, impl, batch, data, *_), by_count in sorted(scaling_series(rows).items()):
        if 1 not in by_count or len(by_count) < 2:
            continue
        one = by_count[1]
        for count in sorted(n for n in by_count if n > 1):
            lines.append(text("conclusions", "scaling").format(
                scenario=scenario, impl=impl_name(impl), kind=kind.upper(), batch=batch,
                data=_data_note(data), count=count, speedup=by_count[count] / one,
                rate=format_rate(by_count[count]), one=format_rate(one),
                efficiency=by_count[count] / one / count)
                + (" " + text("conclusions", "scaling-cpu") if kind == "cpu" else ""))
    return lines or [text("conclusions", "no-scaling")]


def accuracy_conclusions(rows):
    lines = []
    for other in TWINS:
        found = {"beyond": [], "within": [], "weak": []}   # the order the lines are written in
        for group, batch, by_impl in frame.lines(rows):
            keras, them = ([r["val_accuracy"] for r in by_impl.get(arm, [])
                            if r.get("val_accuracy") is not None] for arm in ("keras", other))
            if not keras or not them:
                continue
            mine, theirs = median(keras), median(them)
            # Noise: the wider of the two repeat ranges; a difference inside it is not evidence.
            noise = max(max(keras) - min(keras), max(them) - min(them))
            repeats = min(len(keras), len(them))
            spread = f", spread over repeats {noise:.4f}" if repeats > 1 else ""
            cell = (f"{group_title(group)}, batch {batch}: Keras {mine:.4f} vs "
                    f"{impl_name(other)} {theirs:.4f} (difference {mine - theirs:+.4f}{spread}, "
                    f"n={repeats})")
            kind = "weak" if repeats < 2 else "beyond" if abs(mine - theirs) > noise else "within"
            found[kind].append((abs(mine - theirs), cell))
        total = sum(map(len, found.values()))
        lines += [text("conclusions", f"accuracy-{kind}").format(
            other=impl_name(other), n=len(cells), total=total, largest=max(cells)[1])
            for kind, cells in found.items() if cells]
    return lines or [text("conclusions", "no-accuracy")]


def fused_conclusions(rows):
    """Per configuration with the keras-fused arm: what it gives a Keras user back
    (keras/keras-fused) and what remains of Keras's cost (keras-fused/gluon); [] without it."""
    def by_configuration(numerator, denominator):
        # all of frame.LINE's keys, the batch after the rest of the context, the data last
        return {(r["scenario"], r["ctx"], r["workers"], r["dtype"], r["samples"], r["threads"],
                 r["by_turns"], r["model_sha256"], r["batch_size"], r["data"]): r
                for r in paired_ratios(rows, numerator, denominator)}

    back, remains = by_configuration("keras", FUSED), by_configuration(FUSED, "gluon")
    lines = []
    for where in sorted(set(back) | set(remains)):
        parts = ([f"it gives back Keras/Keras fused {back[where]}"] if where in back else []) + (
            [f"Keras fused/Gluon {remains[where]} remains"] if where in remains else [])
        lines.append(f"Fused path (shim/fused/), {where[0]} on "
                     f"{_cell(back.get(where) or remains[where])}{_data_note(where[-1])}: "
                     + "; ".join(parts) + ".")
    return lines


def peak_conclusions(rows):
    measured = [dict(r, kind=device_kind(r["ctx"])) for r in frame.records(frame.finished(rows))
                if r.get("peak_fraction") is not None]
    lines = []
    for (scenario, kind, impl, data), cells in frame.grouped(
            measured, ["scenario", "kind", "arm", "data"]):
        row = max(cells, key=lambda r: r["peak_fraction"])   # the first of the best
        gflops = "" if row.get("gflops_per_s") is None else f"{row['gflops_per_s']:,.1f} GFLOP/s, "
        lines.append(f"Fraction of measured peak, {scenario} {impl_name(impl)} on {kind.upper()}"
                     f"{_data_note(data)}: at most {row['peak_fraction']:.1%} ({gflops}"
                     f"{_cell(row)}).")
    return lines


def conclusions(rows):
    """Nested list of sentences: a str is a bullet, a list holds the previous bullet's sub-bullets.

    The A/A control arm is a second Gluon run for the noise floor: it enters no conclusion
    about an implementation's speed or accuracy.
    """
    rows = frame.as_frame(rows)
    if frame.finished(rows).empty:
        return ["No finished cells: nothing to conclude."]
    own = frame.without_controls(rows)
    return (overhead_conclusions(rows) + fused_conclusions(rows) + saturation_conclusions(own)
            + scaling_conclusions(own) + accuracy_conclusions(own) + torch_conclusions(rows)
            + peak_conclusions(own))
