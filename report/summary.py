"""Tables of one folder's runs (summary.md's tables), and the Keras-overhead numbers they quote.

Every ratio comes from report.ratios (paired by round, with a 95% CI), and every grouping from
report.frame's keys: the summary tables, the plots, the README and ratios.csv agree.
"""
from statistics import median

from cell import noise

from report import frame
from report.ablation import ablation_markdown, cumulative_markdown
from cell.arms import PAIRS, is_control
from report.names import (IMPL_ORDER, format_accuracy, format_fraction, format_rate, group_title,
                          impl_name, pair_name, pair_title, table, text)
from report.ratios import all_pairs


def impls_present(rows):
    """The arms that get columns of their own: every arm but the A/A controls."""
    found = {arm for arm in frame.as_frame(rows)["arm"] if not is_control(arm)}
    return [i for i in IMPL_ORDER if i in found] + sorted(found - set(IMPL_ORDER))


def per_device_batch(row):
    if row.get("per_device_batch"):
        return row["per_device_batch"]
    contexts = (row.get("devices") or 1) * row["workers"]
    return row["batch_size"] // contexts


def median_of(rows, column):
    values = [row[column] for row in rows if row.get(column) is not None]
    return median(values) if values else None


def _samples_text(rows):
    """Training samples per epoch: a prefix (--max-samples) trains less, and learns less."""
    counts = [r["train_samples"] for r in rows if r.get("train_samples") is not None]
    if not counts:
        return "—"
    low, high = min(counts), max(counts)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _group_table(group, lines, ratios, impls, pairs):
    batches = sorted(b for g, b in lines if g == group)
    with_peak = any(r.get("peak_fraction") is not None for b in batches
                    for rows in lines[(group, b)].values() for r in rows)
    headers = ["batch", "devices", "per-device batch", "train samples"]
    headers += [f"{impl_name(i)} samples/s" for i in impls]
    headers += [pair_title(*pair) for pair in pairs]
    headers += [f"{impl_name(i)} val acc" for i in impls]
    headers += [f"{impl_name(i)} % of peak" for i in impls] if with_peak else []
    body = []
    for batch in batches:
        by_impl = lines[(group, batch)]
        any_row = next(iter(by_impl.values()))[0]
        synthetic = group[frame.GROUP.index("data")] == "synthetic"
        medians = {column: [form(median_of(by_impl.get(i, []), column)) for i in impls]
                   for column, form in (("samples_per_s", format_rate),
                                        ("val_accuracy", format_accuracy),
                                        ("peak_fraction", format_fraction))}
        shown = [ratios.get((group, batch, pair)) for pair in pairs]
        body.append(
            [f"{batch} (synthetic)" if synthetic else str(batch), any_row.get("devices") or "—",
             per_device_batch(any_row),
             _samples_text([r for rows in by_impl.values() for r in rows])]
            + medians["samples_per_s"]
            + ["—" if not r else r.floor() if is_control(p[0]) else str(r)
               for p, r in zip(pairs, shown)]
            + medians["val_accuracy"] + (medians["peak_fraction"] if with_peak else []))
    return table(headers, body)


def noise_table(cells, canary, ratios):
    """Finished cells with a noise flag or a canary flag (`canary`: noise.canary_flags(cells)),
    and per-round ratios that are outliers: kept, and shown here."""
    shown = []
    for r in cells:
        found = "; ".join(f for f in (r.get("noise_flags"), canary.get(id(r))) if f)
        if found:
            shown.append([r["scenario"], impl_name(r["arm"]), r["ctx"], r["batch_size"],
                          r["round"], found])
    for r in ratios:
        for round_number, score in r.outliers:
            shown.append([r["scenario"], pair_name(r["numerator"], r["denominator"]),
                          r["ctx"], r["batch_size"], round_number,
                          f"round ratio {r['per_round'][round_number]:.3f} is an outlier "
                          f"(modified z {score:+.1f} > 3.5)"])
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
        usual = [k for k in r.per_round if k not in other]
        shown = []
        for rounds, in_other in ((usual, False), (other, True)):
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
    if not any(pair == ("keras", "gluon") for pair in pairs) and lines:
        pairs.insert(0, ("keras", "gluon"))   # the question's column, even when it is empty
    impls = impls_present(frame.finished(rows))
    parts = []
    if lines:
        notes = [text("summary", "tables")]
        notes += [text("summary", "before-rounds")] if any(r.before_rounds for r in found) else []
        notes += [text("summary", "noise-floor")] if any(is_control(p[0]) for p in pairs) else []
        parts.append(" ".join(notes))
    else:
        parts.append(text("summary", "no-cells"))
    for group in sorted({g for g, _ in lines}):
        parts.append(f"{hashes} {group_title(group)}\n\n"
                     f"{_group_table(group, lines, ratios, impls, pairs)}")
    fixes = ablation_markdown(rows)
    if fixes:
        parts.append(f"{hashes} Fix ablation: each fix's share of what the fused path gives "
                     f"back\n\n{text('summary', 'ablation')}\n\n" + fixes)
    steps = cumulative_markdown(rows)
    if steps:
        parts.append(f"{hashes} Cumulative ablation: the fixes added one at a time\n\n"
                     f"{text('summary', 'cumulative')}\n\n" + steps)
    cells = frame.records(frame.finished(rows))
    canary = noise.canary_flags(cells)
    noisy = noise_table(cells, canary, found)
    if noisy:
        said = text("summary", "noise-flags") + (f" {text('summary', 'canary')}" if canary else "")
        parts.append(f"{hashes} Noise flags\n\n{said}\n\n" + noisy)
    by_state = state_table(cells, canary, found)
    if by_state:
        parts.append(f"{hashes} Ratios by machine state\n\n{text('summary', 'machine-state')}"
                     "\n\n" + by_state)
    failed = frame.records(frame.failed(rows))
    if failed:
        shown = [[r["scenario"], impl_name(r["arm"]), r["ctx"], r["workers"], r["batch_size"],
                  "—" if r["round"] is None else r["round"],
                  "(synthetic)" if r["data"] == "synthetic" else "real", r.get("reason") or ""]
                 for r in failed]
        parts.append(f"{hashes} Failed cells\n\n" + table(
            ["scenario", "impl", "ctx", "workers", "batch", "round", "data", "reason"], shown))
    return "\n\n".join(parts) + "\n"


def summary_markdown(rows, title):
    """The whole <out>/summary.md."""
    return f"# {title}\n\n" + summary_sections(rows, level=2)
