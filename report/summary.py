"""The tables of one folder's summary.md. Every ratio comes from report.ratios (paired by round,
with a 95% CI) and every grouping from report.frame's keys, so the summary tables, the plots,
the README and ratios.csv agree."""
from statistics import median

from cell import noise
from cell.arms import PAIRS, is_control
from report import frame
from report.ablation import ablation_markdown, cumulative_markdown
from report.frame import median_of, per_device_batch
from report.names import (IMPL_ORDER, format_accuracy, format_fraction, format_rate, group_title,
                          impl_name, pair_name, pair_title, table, text)
from report.ratios import all_pairs


def _samples_text(rows):
    """Training samples per epoch: a prefix (--max-samples) trains less, and learns less."""
    counts = [r["train_samples"] for r in rows if r.get("train_samples") is not None]
    low, high = (min(counts), max(counts)) if counts else (None, None)
    return "—" if not counts else f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _group_table(group, lines, ratios, impls, pairs):
    batches = sorted(b for g, b in lines if g == group)
    with_peak = any(r.get("peak_fraction") is not None for b in batches
                    for rows in lines[(group, b)].values() for r in rows)
    formats = [("samples_per_s", format_rate), ("val_accuracy", format_accuracy)] + (
        [("peak_fraction", format_fraction)] if with_peak else [])
    body = []
    for batch in batches:
        by_impl = lines[(group, batch)]
        any_row = next(iter(by_impl.values()))[0]
        medians = [[form(median_of(by_impl.get(i, []), column)) for i in impls]
                   for column, form in formats]
        shown = [ratios.get((group, batch, pair)) for pair in pairs]
        synthetic = group[frame.GROUP.index("data")] == "synthetic"
        body.append(
            [f"{batch} (synthetic)" if synthetic else str(batch), any_row.get("devices") or "—",
             per_device_batch(any_row),
             _samples_text([r for rows in by_impl.values() for r in rows])] + medians[0]
            + ["—" if not r else r.floor() if is_control(p[0]) else str(r)
               for p, r in zip(pairs, shown)] + [m for column in medians[1:] for m in column])
    return table(["batch", "devices", "per-device batch", "train samples"]
                 + [f"{impl_name(i)} samples/s" for i in impls]
                 + [pair_title(*pair) for pair in pairs]
                 + [f"{impl_name(i)} val acc" for i in impls]
                 + ([f"{impl_name(i)} % of peak" for i in impls] if with_peak else []), body)


def noise_table(cells, canary, ratios):
    """Finished cells with a noise flag or a canary flag (`canary`: noise.canary_flags(cells)),
    and per-round ratios that are outliers: kept, and shown here."""
    shown = []
    for r in cells:
        found = "; ".join(f for f in (r.get("noise_flags"), canary.get(id(r))) if f)
        if found:
            shown.append([r["scenario"], impl_name(r["arm"]), r["ctx"], r["batch_size"],
                          r["round"], found])
    shown += [[r["scenario"], pair_name(r["numerator"], r["denominator"]), r["ctx"],
               r["batch_size"], k, f"round ratio {r['per_round'][k]:.3f} is an outlier "
               f"(modified z {score:+.1f} > 3.5)"] for r in ratios for k, score in r.outliers]
    return table(["scenario", "arm", "ctx", "batch", "round", "flag"], shown) if shown else ""


def state_table(cells, flagged, ratios):
    """Where some finished cells started in another state of the machine (`flagged`:
    noise.canary_flags(cells)): each ratio they touch, again over the rounds all of whose cells
    started in the sweep's usual state, and over the others. Beside the ratio over all rounds,
    never instead of it."""
    if not flagged:
        return ""
    done = frame.as_frame(cells).assign(flagged=[id(r) in flagged for r in cells])
    other_rounds = done[done["flagged"]].groupby(frame.LINE)["round"].agg(set).to_dict()
    # (line, round, flagged) -> canary readings: shown for each group, the flagged ones for the
    # rounds in another state (their other cells may have started before the state changed)
    read = done[done["canary_ms"].map(bool).astype(bool)]
    canaries = read.groupby(frame.LINE + ["round", "flagged"])["canary_ms"].agg(list).to_dict()
    found = []
    for r in ratios:
        key = (*r.group, r.batch_size)   # the ratio's configuration (frame.LINE)
        other = sorted(other_rounds.get(key, set()) & set(r.per_round))
        if not other:
            continue
        shown = []
        for rounds, in_other in (([k for k in r.per_round if k not in other], False),
                                 (other, True)):
            readings = [c for k in rounds for c in canaries.get((*key, k, in_other), [])]
            shown.append(("—" if not rounds else str(r.over(rounds)))
                         + (f", canary {median(readings):.1f} ms" if rounds and readings else ""))
        found.append([r.scenario, pair_name(r.numerator, r.denominator), r.ctx, r.batch_size,
                      str(r), *shown, ", ".join(str(k) for k in other)])
    return table(["scenario", "ratio", "ctx", "batch", "all rounds", "rounds in the usual state",
                  "rounds in another state", "which"], found) if found else ""


def summary_sections(rows, level=2):
    """The tables, as markdown starting at heading `level` (no document title)."""
    hashes = "#" * level
    rows = frame.as_frame(rows)
    lines = {(group, batch): by_arm for group, batch, by_arm in frame.lines(rows)}
    found = all_pairs(rows)
    ratios = {(r.group, r.batch_size, (r.numerator, r.denominator)): r for r in found}
    pairs = [pair for pair in PAIRS if any(k[2] == pair for k in ratios)]
    if ("keras", "gluon") not in pairs and lines:
        pairs.insert(0, ("keras", "gluon"))   # the question's column, even when it is empty
    present = {arm for arm in frame.finished(rows)["arm"] if not is_control(arm)}
    impls = [i for i in IMPL_ORDER if i in present] + sorted(present - set(IMPL_ORDER))
    cells = frame.records(frame.finished(rows))
    canary = noise.canary_flags(cells)
    failed = [[r["scenario"], impl_name(r["arm"]), r["ctx"], r["workers"], r["batch_size"],
               "—" if r["round"] is None else r["round"],
               "(synthetic)" if r["data"] == "synthetic" else "real", r.get("reason") or ""]
              for r in frame.records(frame.failed(rows))]
    notes = [text("summary", "tables")] if lines else [text("summary", "no-cells")]
    notes += [text("summary", "before-rounds")] if lines and any(
        r.before_rounds for r in found) else []
    notes += [text("summary", "noise-floor")] if lines and any(
        is_control(p[0]) for p in pairs) else []
    parts = [" ".join(notes)] + [
        f"{hashes} {group_title(group)}\n\n{_group_table(group, lines, ratios, impls, pairs)}"
        for group in sorted({g for g, _ in lines})]
    said = text("summary", "noise-flags") + (f" {text('summary', 'canary')}" if canary else "")
    for title, intro, shown in [
            ("Fix ablation: each fix's share of what the fused path gives back",
             text("summary", "ablation"), ablation_markdown(rows)),
            ("Cumulative ablation: the fixes added one at a time", text("summary", "cumulative"),
             cumulative_markdown(rows)),
            ("Noise flags", said, noise_table(cells, canary, found)),
            ("Ratios by machine state", text("summary", "machine-state"),
             state_table(cells, canary, found)),
            ("Failed cells", None, failed and table(
                ["scenario", "impl", "ctx", "workers", "batch", "round", "data", "reason"],
                failed))]:
        if shown:
            parts.append("\n\n".join(p for p in (f"{hashes} {title}", intro, shown) if p))
    return "\n\n".join(parts) + "\n"


def summary_markdown(rows, title):
    """The whole <out>/summary.md."""
    return f"# {title}\n\n" + summary_sections(rows, level=2)
