"""The conclusions of results/README.md for one folder: sentences computed from its rows.

Every number in a conclusion comes from the rows (through the same functions the summary tables
use), and is quoted next to the claim it supports. Where the data cannot support a claim (one
repeat, spread wider than the effect), the text says so instead of concluding.
"""
from cell import arms
from cell.arms import FUSED
from report import frame
from report.names import context_label, format_rate, group_title, impl_name, text
from report.ratios import paired_ratios
from report.storage import device_kind
from report.summary import median_of, per_device_batch

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


def _by_scenario_and_kind(ratios):
    """[((scenario, device kind, data), [ratios])], sorted; each group's ratios in their order."""
    keyed = [dict(scenario=r.scenario, kind=device_kind(r.ctx), data=r.data, ratio=r)
             for r in ratios]
    return [(key, [c["ratio"] for c in same])
            for key, same in frame.grouped(keyed, ["scenario", "kind", "data"])]


def overhead_conclusions(rows):
    ratios = paired_ratios(rows, "keras", "gluon")
    if not ratios:
        return [text("conclusions", "no-overhead")]
    lines = []
    for (scenario, kind, data), cells in _by_scenario_and_kind(ratios):
        low, high = (pick(cells, key=lambda r: r["ratio"]) for pick in (min, max))
        single = sum(r["ci_low"] is None for r in cells)
        straddling = sum(r["ci_low"] is not None and r["ci_low"] <= 1 <= r["ci_high"] for r in cells)
        said = {"overhead-one": len(cells) == 1, "overhead-range": len(cells) > 1,
                "overhead-faster": low["ratio"] < 1, "overhead-weak": single == len(cells),
                "overhead-some-single": 0 < single < len(cells), "overhead-straddling": straddling,
                "overhead-before-rounds": any(r["before_rounds"] for r in cells)}
        lines.append(" ".join(text("conclusions", name) for name, true in said.items() if true).format(
            scenario=scenario, kind=kind.upper(), data=_data_note(data), n=len(cells), low=low,
            high=high, where_low=_cell(low), where_high=_cell(high), single=single,
            straddling=straddling))
    return lines


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
    found = []
    for key, by_batch in sorted(series.items()):
        scenario, *context = [(0, "all")[i == 6] if i in same else v for i, v in enumerate(key[:-1])]
        impl = key[-1]
        best_batch = max(by_batch, key=lambda b: by_batch[b][0])
        best = by_batch[best_batch][0]
        first = min(b for b in by_batch if by_batch[b][0] >= SATURATION_FRACTION * best)
        if first == max(by_batch):
            text = (f"{impl_name(impl)} still rising at the largest batch tried "
                    f"({first}: {format_rate(by_batch[first][0])} samples/s)")
        else:
            text = (f"{impl_name(impl)} from batch {first} ({format_rate(by_batch[first][0])} "
                    f"samples/s; max {format_rate(best)} at batch {best_batch})")
        if all(n < 2 for _, n in by_batch.values()):
            text += ", one repeat: weak evidence"
        found.append(dict(scenario=scenario, where=context_label(*context), text=text,
                          group=tuple(key[:-1])))
    return ["Throughput saturation: smallest global batch reaching "
            f"{SATURATION_FRACTION:.0%} of the implementation's maximum samples/s:",
            [f"{scenario} on {where}: " + "; ".join(f["text"] for f in texts) + "."
             for (_, scenario, where), texts in frame.grouped(found, ["group", "scenario", "where"])]]


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


def _spread(rows, column):
    values = [r[column] for r in rows if r.get(column) is not None]
    return max(values) - min(values)


def accuracy_conclusions(rows):
    lines = []
    for other in TWINS:
        found = {"beyond": [], "within": [], "weak": []}   # the order the lines are written in
        for group, batch, by_impl in frame.lines(rows):
            keras, them = ([r for r in by_impl.get(arm, []) if r.get("val_accuracy") is not None]
                           for arm in ("keras", other))
            if not keras or not them:
                continue
            diff = median_of(keras, "val_accuracy") - median_of(them, "val_accuracy")
            # Noise: the wider of the two repeat ranges; a difference inside it is not evidence.
            noise = max(_spread(keras, "val_accuracy"), _spread(them, "val_accuracy"))
            repeats = min(len(keras), len(them))
            spread = f", spread over repeats {noise:.4f}" if repeats > 1 else ""
            cell = (f"{group_title(group)}, batch {batch}: Keras {median_of(keras, 'val_accuracy'):.4f} "
                    f"vs {impl_name(other)} {median_of(them, 'val_accuracy'):.4f} "
                    f"(difference {diff:+.4f}{spread}, n={repeats})")
            kind = "weak" if repeats < 2 else "beyond" if abs(diff) > noise else "within"
            found[kind].append((abs(diff), cell))
        total = sum(map(len, found.values()))
        lines += [text("conclusions", f"accuracy-{kind}").format(
            other=impl_name(other), n=len(cells), total=total, largest=max(cells)[1])
            for kind, cells in found.items() if cells]
    return lines or [text("conclusions", "no-accuracy")]


def fused_conclusions(rows):
    """Per configuration with the keras-fused arm: what it gives a Keras user back
    (keras/keras-fused) and what remains of Keras's cost (keras-fused/gluon); [] without it."""
    back = {ratio_configuration(r): r for r in paired_ratios(rows, "keras", FUSED)}
    remains = {ratio_configuration(r): r for r in paired_ratios(rows, FUSED, "gluon")}
    lines = []
    for where in sorted(set(back) | set(remains)):
        scenario, data = where[0], where[-1]
        r = back.get(where) or remains.get(where)
        parts = []
        if where in back:
            parts.append(f"it gives back Keras/Keras fused {back[where]}")
        if where in remains:
            parts.append(f"Keras fused/Gluon {remains[where]} remains")
        lines.append(f"Fused path (shim/fused/), {scenario} on {_cell(r)}{_data_note(data)}: "
                     + "; ".join(parts) + ".")
    return lines


def ratio_configuration(r):
    """A ratio's configuration (all of frame.LINE's keys), sorted as the conclusions list them:
    the batch after the rest of the context, the data last."""
    return (r["scenario"], r["ctx"], r["workers"], r["dtype"], r["samples"], r["threads"],
            r["by_turns"], r["model_sha256"], r["batch_size"], r["data"])


def torch_conclusions(rows):
    lines = []
    for impl in ("gluon", "keras"):
        for (scenario, kind, data), cells in _by_scenario_and_kind(
                paired_ratios(rows, impl, "torch")):
            low, high = (pick(cells, key=lambda r: r["ratio"]) for pick in (min, max))
            text = (f"Torch yardstick, {scenario} on {kind.upper()}{_data_note(data)}: "
                    f"{impl_name(impl)} epoch time is {low['ratio']:.2f}x–"
                    f"{high['ratio']:.2f}x Torch's over {len(cells)} cells "
                    f"(largest: {high} at {_cell(high)}).")
            if all(r["ci_low"] is None for r in cells):
                text += " One repeat per cell: weak evidence."
            lines.append(text)
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
