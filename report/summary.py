"""Tables of one machine's runs, and the Keras-overhead numbers they quote.

`overhead_ratios` is the single source of the overhead numbers: the summary
tables, the plots and the README all take theirs from it.
"""
from statistics import median

from tabulate import tabulate

from report.runs import cell_key, data_of, dtype_of, is_profiled, workers_of

IMPL_ORDER = ["keras", "keras-graph", "gluon", "torch"]
IMPL_NAMES = {"keras": "Keras", "keras-graph": "Keras graph", "gluon": "Gluon", "torch": "Torch"}


def impl_name(impl):
    return IMPL_NAMES.get(impl, impl)


def ok_rows(rows):
    """Finished, unprofiled cells; if a cell was measured twice (e.g. re-run), the last row wins.

    Rows without a repeat number cannot be told apart from other repeats, so
    they are all kept.  Profiled cells (`bench.py --profile`) are timings of the profiler
    too: they feed report.operators only, never a throughput table or ratio.
    """
    latest = {}
    for index, row in enumerate(rows):
        if row["status"] == "ok" and not is_profiled(row):
            latest[cell_key(row) if row.get("repeat") is not None else index] = row
    return list(latest.values())


def failed_rows(rows):
    """Failed cells that no later row completed."""
    done = {cell_key(row) for row in rows if row["status"] == "ok"}
    return [row for row in rows if row["status"] != "ok" and cell_key(row) not in done]


def group_key(row):
    """Rows that share a table: same scenario, context, workers, data kind and dtype.

    Real and synthetic data never share a key, so they never share a line.
    """
    return (row["scenario"], row["ctx"], workers_of(row), data_of(row), dtype_of(row))


def impls_present(rows):
    found = {row["impl"] for row in rows}
    return [i for i in IMPL_ORDER if i in found] + sorted(found - set(IMPL_ORDER))


def per_device_batch(row):
    if row.get("per_device_batch"):
        return row["per_device_batch"]
    contexts = (row.get("devices") or 1) * workers_of(row)
    return row["batch_size"] // contexts


def median_of(rows, column):
    values = [row[column] for row in rows if row.get(column) is not None]
    return median(values) if values else None


def rows_by_line(rows):
    """{(group_key, batch_size): {impl: [rows over repeats]}} for finished cells."""
    lines = {}
    for row in ok_rows(rows):
        line = lines.setdefault((group_key(row), row["batch_size"]), {})
        line.setdefault(row["impl"], []).append(row)
    return lines


def _ratio_stats(numerator_rows, denominator_rows):
    """Epoch-time ratio numerator/denominator over repeats.

    When the two share repeat numbers, each repeat is a pair (same position in
    the run order, so similar machine state) and we take the median of the
    per-pair ratios.  Otherwise: ratio of the medians, with the most extreme
    cross ratios as the spread.
    """
    num = {r["repeat"]: r["epoch_s_median"] for r in numerator_rows if r["repeat"] is not None}
    den = {r["repeat"]: r["epoch_s_median"] for r in denominator_rows if r["repeat"] is not None}
    common = sorted(set(num) & set(den))
    if common:
        ratios = [num[k] / den[k] for k in common]
        return median(ratios), min(ratios), max(ratios), len(ratios), True
    num_t = [r["epoch_s_median"] for r in numerator_rows]
    den_t = [r["epoch_s_median"] for r in denominator_rows]
    return (median(num_t) / median(den_t), min(num_t) / max(den_t),
            max(num_t) / min(den_t), min(len(num_t), len(den_t)), False)


def epoch_time_ratios(rows, numerator="keras", denominator="gluon"):
    """One dict per (scenario, ctx, workers, batch_size, data, dtype) that has both impls.

    ratio > 1 means `numerator` needs more time per epoch than `denominator`.
    """
    result = []
    for ((scenario, ctx, workers, data, dtype), batch), by_impl in sorted(rows_by_line(rows).items()):
        if numerator not in by_impl or denominator not in by_impl:
            continue
        ratio, low, high, n, paired = _ratio_stats(by_impl[numerator], by_impl[denominator])
        result.append(dict(
            scenario=scenario, ctx=ctx, workers=workers, batch_size=batch, data=data,
            dtype=dtype, devices=by_impl[numerator][0].get("devices"),
            ratio_median=ratio, ratio_min=low, ratio_max=high, n=n, paired=paired))
    return result


def overhead_ratios(rows):
    """Keras epoch time / Gluon epoch time per cell (see epoch_time_ratios)."""
    return epoch_time_ratios(rows, "keras", "gluon")


def format_ratio(r):
    """'1.23x (1.20–1.31, n=3)': median with its spread over repeats."""
    text = f"{r['ratio_median']:.2f}x ({r['ratio_min']:.2f}–{r['ratio_max']:.2f}, n={r['n']}"
    return text + (")" if r["paired"] else ", unpaired)")


def format_rate(value):
    return "—" if value is None else f"{value:,.0f}"


def format_accuracy(value):
    return "—" if value is None else f"{value:.4f}"


def context_label(ctx, workers=1, data="real", dtype="float32"):
    """'gpu:0-7', plus workers, dtype and '(synthetic)' when they are not the defaults."""
    text = ctx + (f" ×{workers} workers" if workers > 1 else "")
    text += f" {dtype}" if dtype != "float32" else ""
    return text + (" (synthetic)" if data == "synthetic" else "")


def group_title(key):
    scenario, ctx, workers, data, dtype = key
    return f"{scenario} on {context_label(ctx, workers, data, dtype)}"


def format_fraction(value):
    return "—" if value is None else f"{value:.1%}"


def _samples_text(rows):
    """Training samples per epoch: a prefix (--max-samples) trains less, and learns less."""
    counts = [r["train_samples"] for r in rows if r.get("train_samples") is not None]
    if not counts:
        return "—"
    low, high = min(counts), max(counts)
    return f"{low:,}" if low == high else f"{low:,}–{high:,}"


def _group_table(group, lines, ratios, impls):
    batches = sorted(b for g, b in lines if g == group)
    with_peak = any(r.get("peak_fraction") is not None for b in batches
                    for rows in lines[(group, b)].values() for r in rows)
    headers = ["batch", "devices", "per-device batch", "train samples"]
    headers += [f"{impl_name(i)} samples/s" for i in impls]
    headers += ["Keras/Gluon epoch time"]
    headers += [f"{impl_name(i)} val acc" for i in impls]
    headers += [f"{impl_name(i)} % of peak" for i in impls] if with_peak else []
    table = []
    for batch in batches:
        by_impl = lines[(group, batch)]
        any_row = next(iter(by_impl.values()))[0]
        batch_text = f"{batch} (synthetic)" if group[3] == "synthetic" else str(batch)
        ratio = ratios.get((group, batch))
        table.append(
            [batch_text, any_row.get("devices") or "—", per_device_batch(any_row),
             _samples_text([r for rows in by_impl.values() for r in rows])]
            + [format_rate(median_of(by_impl.get(i, []), "samples_per_s")) for i in impls]
            + [format_ratio(ratio) if ratio else "—"]
            + [format_accuracy(median_of(by_impl.get(i, []), "val_accuracy")) for i in impls]
            + ([format_fraction(median_of(by_impl.get(i, []), "peak_fraction")) for i in impls]
               if with_peak else []))
    return tabulate(table, headers, tablefmt="pipe", disable_numparse=True)


def summary_sections(rows, level=2):
    """The tables, as markdown starting at heading `level` (no document title)."""
    hashes = "#" * level
    lines = rows_by_line(rows)
    ratios = {((r["scenario"], r["ctx"], r["workers"], r["data"], r["dtype"]), r["batch_size"]): r
              for r in overhead_ratios(rows)}
    impls = impls_present(ok_rows(rows))
    parts = []
    if lines:
        parts.append("Samples/s and validation accuracy: median over repeats. "
                     "Keras/Gluon epoch time: median of per-repeat ratios "
                     "(min–max over repeats, n = repeats); above 1 means Keras is slower. "
                     "% of peak: training GFLOP/s over this machine's FP32 GEMM rate "
                     "(`bench.py --peak`), where measured.")
    else:
        parts.append("No completed cells.")
    for group in sorted({g for g, _ in lines}):
        parts.append(f"{hashes} {group_title(group)}\n\n{_group_table(group, lines, ratios, impls)}")
    failed = failed_rows(rows)
    if failed:
        table = [[r["scenario"], impl_name(r["impl"]), r["ctx"], workers_of(r), r["batch_size"],
                  "—" if r.get("repeat") is None else r["repeat"],
                  "(synthetic)" if data_of(r) == "synthetic" else "real", r.get("reason") or ""]
                 for r in failed]
        headers = ["scenario", "impl", "ctx", "workers", "batch", "repeat", "data", "reason"]
        parts.append(f"{hashes} Failed cells\n\n"
                     + tabulate(table, headers, tablefmt="pipe", disable_numparse=True))
    return "\n\n".join(parts) + "\n"


def summary_markdown(rows, title):
    """The whole <out>/summary.md."""
    return f"# {title}\n\n" + summary_sections(rows, level=2)
