"""results/README.md: one section per machine, conclusions computed from its rows.

Every number in a conclusion comes from the rows (through the same functions
the summary tables use), and is quoted next to the claim it supports.  Where
the data cannot support a claim (one repeat, spread wider than the effect),
the text says so instead of concluding.
"""
import csv
from pathlib import Path

from tabulate import tabulate

from report import operators, record
from report.plots import PLOT_NAMES, render_plots
from report.runs import (METHOD, RUNS_FILE, ReportError, data_of, device_kind, dtype_of,
                         method_of, read_machine, workers_of)
from report.ratios import is_control
from report.summary import (context_label, epoch_time_ratios, format_rate, format_ratio,
                            group_title, impl_name, median_of, ok_rows, overhead_ratios,
                            per_device_batch, rows_by_line, summary_markdown, summary_sections)

HISTORICAL_CSV = Path(__file__).with_name("historical.csv")
SATURATION_FRACTION = 0.9
CPU_CONTEXTS_NOTE = ("Several CPU contexts on one machine (e.g. ctx 'cpu:0-1') share the same "
                     "cores, so multi-context CPU rows measure the cost of data parallelism, "
                     "not a speed-up.")
ENVIRONMENT_FIELDS = [("host", "host"), ("cpu", "CPU"), ("cores", "cores"), ("gpus", "GPUs"),
                      ("python", "Python"), ("mxnet", "MXNet"), ("keras_mxnet", "keras-mxnet"),
                      ("numpy", "NumPy"), ("torch", "PyTorch"), ("git_commit", "git commit")]


def run_dirs(results_dir):
    """results/<label>/ folders that hold a runs.csv, sorted by label."""
    return sorted(p.parent for p in Path(results_dir).glob(f"*/{RUNS_FILE}"))


def _cell(ratio):
    """Where a ratio was measured: 'gpu:0-7, batch 256' (data kind is said by the caller)."""
    where = context_label(ratio["ctx"], ratio["workers"], dtype=ratio["dtype"])
    return f"{where}, batch {ratio['batch_size']}"


def _data_note(data):
    return " (synthetic data)" if data == "synthetic" else ""


# ---- conclusions -------------------------------------------------------------

def overhead_conclusions(rows):
    ratios = overhead_ratios(rows)
    if not ratios:
        return ["Keras overhead: no cell has both a Keras and a Gluon run, so none is computed."]
    groups = {}
    for r in ratios:
        groups.setdefault((r["scenario"], device_kind(r["ctx"]), r["data"]), []).append(r)
    lines = []
    for (scenario, kind, data), cells in sorted(groups.items()):
        low = min(cells, key=lambda r: r["ratio"])
        high = max(cells, key=lambda r: r["ratio"])
        head = f"Keras overhead, {scenario} on {kind.upper()}{_data_note(data)}: "
        if len(cells) == 1:
            text = head + f"Keras epoch time is {format_ratio(high)} Gluon's ({_cell(high)})."
        else:
            text = head + (f"Keras epoch time is {low['ratio']:.2f}x–{high['ratio']:.2f}x "
                           f"Gluon's over {len(cells)} cells; largest at {_cell(high)}: "
                           f"{format_ratio(high)}; smallest at {_cell(low)}: {format_ratio(low)}.")
        if low["ratio"] < 1:
            text += " Below 1 means Keras was faster."
        single = sum(r["ci_low"] is None for r in cells)
        if single == len(cells):
            text += " Evidence is weak: one round (or repeat) per cell, so the noise is unknown."
        else:
            if single:
                text += f" {single} of {len(cells)} cells have one round only: weak evidence there."
            straddling = [r for r in cells if r["ci_low"] is not None
                          and r["ci_low"] <= 1 <= r["ci_high"]]
            if straddling:
                text += (f" In {len(straddling)} of {len(cells)} cells the 95% CI includes 1.0: "
                         "no overhead is established there.")
        if any(r["before_rounds"] for r in cells):
            text += " Measured before rounds (repeats in a fixed order stand in for rounds)."
        lines.append(text)
    return lines


def _median_rate_by_batch(rows):
    """{(scenario, impl, ctx, workers, data, dtype): {batch: (median samples/s, repeats)}}."""
    series = {}
    for row in rows:
        key = (row["scenario"], row["impl"], row["ctx"], workers_of(row), data_of(row), dtype_of(row))
        series.setdefault(key, {}).setdefault(row["batch_size"], []).append(row)
    return {key: {b: (median_of(rs, "samples_per_s"), len(rs)) for b, rs in by_batch.items()}
            for key, by_batch in series.items()}


def saturation_conclusions(rows):
    """One sub-bullet per context: for each impl, the smallest batch reaching 90% of its max."""
    series = {k: v for k, v in _median_rate_by_batch(ok_rows(rows)).items() if len(v) >= 2}
    if not series:
        return ["Throughput saturation: no implementation was run at two or more batch sizes."]
    by_context = {}
    for (scenario, impl, ctx, workers, data, dtype), by_batch in sorted(series.items()):
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
        by_context.setdefault((scenario, context_label(ctx, workers, data, dtype)), []).append(text)
    return ["Throughput saturation: smallest global batch reaching "
            f"{SATURATION_FRACTION:.0%} of the implementation's maximum samples/s:",
            [f"{scenario} on {where}: " + "; ".join(texts) + "."
             for (scenario, where), texts in by_context.items()]]


def scaling_series(rows):
    """{(scenario, kind, impl, per-device batch, data, dtype): {devices*workers: median samples/s}}."""
    series = {}
    for row in ok_rows(rows):
        key = (row["scenario"], device_kind(row["ctx"]), row["impl"], per_device_batch(row),
               data_of(row), dtype_of(row))
        devices = (row.get("devices") or 1) * workers_of(row)
        series.setdefault(key, {}).setdefault(devices, []).append(row)
    return {k: {n: median_of(rs, "samples_per_s") for n, rs in v.items()} for k, v in series.items()}


def scaling_conclusions(rows):
    lines = []
    for (scenario, kind, impl, batch, data, dtype), by_count in sorted(scaling_series(rows).items()):
        if 1 not in by_count or len(by_count) < 2:
            continue
        one = by_count[1]
        for count in sorted(n for n in by_count if n > 1):
            speedup = by_count[count] / one
            text = (f"Scaling, {scenario} {impl_name(impl)} on {kind.upper()}, {batch} samples per "
                    f"device{_data_note(data)}: {count} devices give {speedup:.2f}x the 1-device "
                    f"throughput ({format_rate(by_count[count])} vs {format_rate(one)} samples/s), "
                    f"{speedup / count:.0%} scaling efficiency.")
            if kind == "cpu":
                text += " CPU contexts share cores: this is the cost of data parallelism, not a speed-up."
            lines.append(text)
    if not lines:
        return ["Scaling: no implementation was run on 1 and on more devices at the same "
                "per-device batch, so no scaling efficiency is computed."]
    return lines


def _spread(rows, column):
    values = [r[column] for r in rows if r.get(column) is not None]
    return max(values) - min(values)


def accuracy_conclusions(rows):
    lines = []
    for other in ("gluon", "torch"):
        beyond, within, weak = [], [], []
        for (group, batch), by_impl in sorted(rows_by_line(rows).items()):
            keras = [r for r in by_impl.get("keras", []) if r.get("val_accuracy") is not None]
            them = [r for r in by_impl.get(other, []) if r.get("val_accuracy") is not None]
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
            if repeats < 2:
                weak.append((abs(diff), cell))
            elif abs(diff) > noise:
                beyond.append((abs(diff), cell))
            else:
                within.append((abs(diff), cell))
        total = len(beyond) + len(within) + len(weak)
        if not total:
            continue
        head = f"Validation accuracy, Keras vs {impl_name(other)}: "
        if beyond:
            lines.append(head + f"{len(beyond)} of {total} cells differ by more than the spread "
                         f"over repeats; largest: {max(beyond)[1]}. Repeats share the seed (the "
                         "same data order; each side its same initial weights), so that spread "
                         "is run-to-run nondeterminism only: the two sides draw different initial "
                         "weights from the same distributions, and seeds alone move accuracy.")
        if within:
            lines.append(head + f"{len(within)} of {total} cells agree within the spread over "
                         f"repeats; largest difference: {max(within)[1]}.")
        if weak:
            lines.append(head + f"{len(weak)} of {total} cells have one repeat, so the noise is "
                         f"unknown and the evidence is weak; largest difference: {max(weak)[1]}.")
    return lines or ["Validation accuracy: no cell has validation accuracy for Keras and another "
                     "implementation."]


def fused_conclusions(rows):
    """Per configuration with the keras-fused arm: what it gives a Keras user back
    (keras/keras-fused) and what remains of Keras's cost (keras-fused/gluon); [] without it."""
    back = {_where(r): r for r in epoch_time_ratios(rows, "keras", "keras-fused")}
    remains = {_where(r): r for r in epoch_time_ratios(rows, "keras-fused", "gluon")}
    lines = []
    for where in sorted(set(back) | set(remains), key=str):
        scenario, data = where[0], where[-1]
        r = back.get(where) or remains.get(where)
        parts = []
        if where in back:
            parts.append(f"it gives back Keras/Keras fused {format_ratio(back[where])}")
        if where in remains:
            parts.append(f"Keras fused/Gluon {format_ratio(remains[where])} remains")
        lines.append(f"Fused path (shim/fused/), {scenario} on {_cell(r)}{_data_note(data)}: "
                     + "; ".join(parts) + ".")
    return lines


def _where(r):
    return (r["scenario"], r["ctx"], r["workers"], r["dtype"], r["samples"], r["batch_size"],
            r["data"])


def torch_conclusions(rows):
    lines = []
    for impl in ("gluon", "keras"):
        groups = {}
        for r in epoch_time_ratios(rows, impl, "torch"):
            groups.setdefault((r["scenario"], device_kind(r["ctx"]), r["data"]), []).append(r)
        for (scenario, kind, data), cells in sorted(groups.items()):
            low = min(cells, key=lambda r: r["ratio"])
            high = max(cells, key=lambda r: r["ratio"])
            text = (f"Torch yardstick, {scenario} on {kind.upper()}{_data_note(data)}: "
                    f"{impl_name(impl)} epoch time is {low['ratio']:.2f}x–"
                    f"{high['ratio']:.2f}x Torch's over {len(cells)} cells "
                    f"(largest: {format_ratio(high)} at {_cell(high)}).")
            if all(r["ci_low"] is None for r in cells):
                text += " One repeat per cell: weak evidence."
            lines.append(text)
    return lines


def peak_conclusions(rows):
    best = {}
    for row in ok_rows(rows):
        if row.get("peak_fraction") is None:
            continue
        key = (row["scenario"], device_kind(row["ctx"]), row["impl"], data_of(row))
        if key not in best or row["peak_fraction"] > best[key]["peak_fraction"]:
            best[key] = row
    lines = []
    for (scenario, kind, impl, data), row in sorted(best.items()):
        gflops = "" if row.get("gflops_per_s") is None else f"{row['gflops_per_s']:,.1f} GFLOP/s, "
        lines.append(f"Fraction of measured peak, {scenario} {impl_name(impl)} on {kind.upper()}"
                     f"{_data_note(data)}: at most {row['peak_fraction']:.1%} ({gflops}"
                     f"{context_label(row['ctx'], workers_of(row))}, batch {row['batch_size']}).")
    return lines


def conclusions(rows):
    """Nested list of sentences: a str is a bullet, a list holds the previous bullet's sub-bullets.

    The A/A control arm is a second Gluon run for the noise floor: it enters no conclusion
    about an implementation's speed or accuracy.
    """
    if not ok_rows(rows):
        return ["No finished cells: nothing to conclude."]
    arms = [r for r in rows if not is_control(r)]
    return (overhead_conclusions(rows) + fused_conclusions(rows) + saturation_conclusions(arms)
            + scaling_conclusions(arms) + accuracy_conclusions(arms) + torch_conclusions(rows)
            + peak_conclusions(arms))


def _bullets(items, indent=""):
    out = []
    for item in items:
        if isinstance(item, list):
            out.append(_bullets(item, indent + "  "))
        else:
            out.append(f"{indent}- {item}")
    return "\n".join(out)


# ---- sections ----------------------------------------------------------------

def environment_markdown(rows):
    table = []
    for column, name in ENVIRONMENT_FIELDS:
        values = sorted({str(r[column]) for r in rows if r.get(column) is not None})
        table.append([name, ", ".join(values) if values else "not recorded"])
    return tabulate(table, ["", "value"], tablefmt="pipe", disable_numparse=True)


def machine_section(run_dir, rows, plot_notes=()):
    label = Path(run_dir).name
    plots = [name for name in PLOT_NAMES if (Path(run_dir) / f"{name}.png").is_file()]
    title, before = EARLIER_METHODS.get(oldest_method(rows), ("", ""))
    parts = [f"## {label}" + title,
             f"{len(rows)} rows in [{label}/{RUNS_FILE}]({label}/{RUNS_FILE})." + before,
             "### Environment", environment_markdown(rows),
             "### Conclusions", _bullets(conclusions(rows)),
             "### Tables", summary_sections(rows, level=4).strip(),
             operators.section(run_dir, rows, level=3),
             "### Plots"]
    parts += [f"![{label} {name}]({label}/{name}.png)" for name in plots]
    parts += [f"Not drawn: {note}." for note in plot_notes]
    if not plots and not plot_notes:
        parts.append("No plots.")
    return "\n\n".join(part for part in parts if part)


HISTORICAL_IMPLS = {"keras": "Keras-on-MXNet (Keras 1.2.2 fork)", "mxnet_example": "MXNet's own example"}


def _number(text):
    return float(text) if text and text.strip() else None


def _span(low, high, fmt):
    if low is None:
        return "—"
    return fmt(low) if low == high else f"{fmt(low)}–{fmt(high)}"


def historical_markdown(path=HISTORICAL_CSV):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for column in ("devices", "batch_min", "batch_max", "epochs", "samples_per_s_min",
                       "samples_per_s_max", "seconds"):
            r[column] = _number(r[column])
    as_int = lambda v: f"{v:,.0f}"  # noqa: E731
    table = [[r["scenario"], HISTORICAL_IMPLS.get(r["impl"], r["impl"]), r["hardware"],
              "—" if r["devices"] is None else as_int(r["devices"]),
              _span(r["batch_min"], r["batch_max"], as_int),
              "—" if r["epochs"] is None else as_int(r["epochs"]),
              _span(r["samples_per_s_min"], r["samples_per_s_max"], as_int),
              "—" if r["seconds"] is None else as_int(r["seconds"]), r["note"] or ""]
             for r in rows]
    headers = ["scenario", "implementation", "hardware", "devices", "batch", "epochs",
               "samples/s", "seconds", "note"]
    findings = []
    single = {(r["scenario"], r["impl"], r["hardware"], r["devices"], r["batch_min"]): r
              for r in rows if r["samples_per_s_min"] is not None
              and r["samples_per_s_min"] == r["samples_per_s_max"]}
    for (scenario, impl, hardware, devices, batch), keras in single.items():
        native = single.get((scenario, "mxnet_example", hardware, devices, batch))
        if impl != "keras" or native is None:
            continue
        slower = native["samples_per_s_min"] / keras["samples_per_s_min"]
        findings.append(f"{scenario}, {as_int(devices)}× {hardware}, batch {as_int(batch)}: Keras "
                        f"{as_int(keras['samples_per_s_min'])} vs MXNet example "
                        f"{as_int(native['samples_per_s_min'])} samples/s: Keras about "
                        f"{slower:.1f}x slower.")
    for (scenario, impl, hardware, devices, batch), many in single.items():
        one = single.get((scenario, impl, hardware, 1.0, batch))
        if one is None or devices == 1:
            continue
        speedup = many["samples_per_s_min"] / one["samples_per_s_min"]
        findings.append(f"{scenario}, {HISTORICAL_IMPLS.get(impl, impl)}, {hardware}, same global "
                        f"batch {as_int(batch)}: {as_int(devices)} devices give {speedup:.1f}x the "
                        f"1-device throughput ({speedup / devices:.0%} scaling efficiency).")
    for r in rows:
        if r["seconds"] is not None and r["epochs"]:
            findings.append(f"{r['scenario']}, {HISTORICAL_IMPLS.get(r['impl'], r['impl'])}, "
                            f"{as_int(r['devices'])}× {r['hardware']}, batch {as_int(r['batch_min'])}: "
                            f"{as_int(r['seconds'])} s for {as_int(r['epochs'])} epochs "
                            f"({r['seconds'] / r['epochs']:.0f} s per epoch).")
    parts = ["## Historical reference (another machine; not comparable with the results above)",
             "Published numbers from an earlier benchmark of a Keras 1.2.2 fork on MXNet 0.10, "
             "on AWS K80 GPUs with cuDNN 5. Different hardware and software versions: read them "
             "for the order of magnitude only. Source data: `report/historical.csv`.",
             tabulate(table, headers, tablefmt="pipe", disable_numparse=True)]
    if findings:
        parts.append(_bullets(findings))
    return "\n\n".join(parts)


# What a folder measured by an earlier method (report/runs.py, METHOD) says of itself: a title
# suffix and a sentence. Such folders stay, and stay out of the headline.
EARLIER_METHODS = {
    0: (" (before rounds)", " Measured before rounds: repeats, run in a fixed order (Keras first), "
        "stand in for rounds; and before method 2 (a throttled Gluon on one CPU context, see "
        "the README's Fairness); not in the headline."),
    1: (" (Gluon throttled)", " Measured before method 2: on a CPU context with more than one "
        "OpenMP thread, the Gluon arm (and keras-graph) ran every operator with libgomp's "
        "throttled spin, from an OpenMP team its copy of the training set left on the Python "
        "thread (the README's Fairness), which slowed it by up to 2x, so those Keras/Gluon "
        "ratios understate Keras's cost (on cpu:0-1 and with parameter-server workers, one "
        "thread each, the methods agree); not in the headline."),
}


FUSED_PAIRS = (("keras", "keras-fused"), ("keras-fused", "gluon"))

# What the shim found keras-mxnet 2.2.4.3 computing wrongly on MXNet 1.9.1, each held by the tests
# named in shim/keras_mxnet.py's docstring: facts of the code, not of a sweep.
CORRECTNESS = """## Does Keras on MXNet compute what Keras says?

Not always, in stock keras-mxnet 2.2.4.3 on MXNet 1.9.1. The shim (imported by every Keras arm
here) mends these, each under a test that fails on the stock code:

- **The default LSTM/GRU/SimpleRNN ignored its weights.** With `unroll=False` (Keras's default)
  keras-mxnet's `foreach` loop never linked the layer's variables to its graph: a fresh
  `Sequential([LSTM(4, input_shape=(5, 3))])` predicts exactly 0.0, `set_weights` changes
  nothing, training moves the outputs to about 0.001, and `get_weights` reports values the model
  never used (so a saved model is not the one that was trained). Its LSTM step also added the
  input gate's bias to all four gates. Through the shim the default layer computes Keras's
  function, the same as `unroll=True` (shim/recurrent.py).
- **Stacked recurrent layers could not be built**: a recurrent layer after another's sequences got
  a zero state of shape (1, batch x units).
- **Convolutions started at the wrong scale**: Glorot's fans were computed for a channels_last
  kernel on channels_first kernels (LeNet's first convolution drew from +-0.173, not +-0.107).
- **Several contexts trained on N times the gradient**: keras-mxnet summed per-device mean
  gradients, so SGD's step grew with the number of contexts.
- **`cpu(i)` meant `cpu(0)`**: every CPU context in a list ran on the first.

The opt-in fused path (`shim/fused/`, the keras-fused arms) is held to stock Keras's function
the same way: predictions, loss, every gradient and the parameters after an SGD and an Adam step
agree within float32 rounding on both scenarios, on one and two contexts, and on ten other models
(tests/test_fused.py)."""


def oldest_method(rows):
    """The oldest measurement method among a folder's rows (report/runs.py, METHOD)."""
    return min((method_of(r) for r in rows), default=METHOD)


def headline_markdown(machines):
    """One table per scenario x context: the Keras/Gluon ratio with its 95% CI, the rounds and
    the folder (a machine and a sweep); then a sentence per scenario drawn from the table.

    machines: [(label, rows)] of the folders measured by the current method only (report/runs.py,
    METHOD); earlier folders stay out of it (EARLIER_METHODS says why).
    """
    tables, by_scenario = {}, {}
    for label, rows in machines:
        for r in overhead_ratios(rows):
            where = context_label(r["ctx"], r["workers"], r["data"], r["dtype"])
            tables.setdefault((r["scenario"], where), []).append((label, r))
            by_scenario.setdefault(r["scenario"], []).append((label, where, r))
    if not tables:
        return ("No folder measured by the current method yet: no headline. Folders measured "
                "by an earlier one are below, marked as such.")
    # The fused path's two ratios, beside Keras/Gluon where the same sweep measured them.
    fused = {(label, pair): {_where(r): r for r in epoch_time_ratios(rows, *pair)}
             for label, rows in machines for pair in FUSED_PAIRS}
    parts = []
    for (scenario, where), cells in sorted(tables.items()):
        table = [[r["batch_size"], format_ratio(r), r["n"],
                  "yes" if r["ci_low"] is not None and not r["ci_low"] <= 1 <= r["ci_high"]
                  else "no"]
                 + [format_ratio(fused[label, pair][_where(r)])
                    if _where(r) in fused[label, pair] else "—" for pair in FUSED_PAIRS]
                 + [r["max_samples"] or "all", label]
                 for label, r in sorted(cells, key=lambda c: (c[0], c[1]["batch_size"]))]
        parts.append(f"**{scenario} on {where}**\n\n" + tabulate(
            table, ["batch", "Keras/Gluon epoch time (95% CI)", "rounds", "CI excludes 1.0",
                    "Keras/Keras fused: given back", "Keras fused/Gluon: remains",
                    "samples (--max-samples)", "folder (sweep)"], tablefmt="pipe",
            disable_numparse=True))
    sentences = []
    for scenario, cells in sorted(by_scenario.items()):
        sure = [c for c in cells if c[2]["ci_low"] is not None]
        low = min(cells, key=lambda c: c[2]["ratio"])
        high = max(cells, key=lambda c: c[2]["ratio"])
        if len(cells) == 1:
            text = (f"{scenario}: Keras epoch time is {format_ratio(high[2])} Gluon's "
                    f"({high[1]}, batch {high[2]['batch_size']}, {high[0]}).")
        else:
            text = (f"{scenario}: Keras epoch time is {low[2]['ratio']:.2f}x–"
                    f"{high[2]['ratio']:.2f}x Gluon's over {len(cells)} cells on "
                    f"{len({c[0] for c in cells})} folder(s); largest at {high[1]}, batch "
                    f"{high[2]['batch_size']} ({high[0]}): {format_ratio(high[2])}.")
        slower = [c for c in sure if c[2]["ci_low"] > 1]
        faster = [c for c in sure if c[2]["ci_high"] < 1]
        text += (f" In {len(slower)} of {len(cells)} cells the 95% CI lies above 1 (Keras "
                 f"slower), in {len(faster)} below 1 (Keras faster)")
        unsure = len(cells) - len(slower) - len(faster)
        text += f", and in {unsure} it includes 1.0 or there is none." if unsure else "."
        sentences.append(text)
    return "\n\n".join(parts + [_bullets(sentences)])


def readme_markdown(results_dir, plot_notes=None):
    """The whole results/README.md. plot_notes: {label: [notes of skipped plots]}."""
    plot_notes = plot_notes or {}
    parts = ["# Results: what the Keras API (keras-mxnet) costs on top of native MXNet Gluon",
             "Generated by `python -m report` from `results/<label>/runs.csv` (a label names a "
             "machine and a sweep); do not edit by hand. Overhead = Keras epoch time / Gluon "
             "epoch time for the same scenario, context and batch: above 1 means Keras is slower.",
             f"Note: {CPU_CONTEXTS_NOTE}"]
    dirs = run_dirs(results_dir)
    if not dirs:
        parts.append("No machine results yet.")
    machines = [(run_dir, read_machine(run_dir)) for run_dir in dirs]
    if machines:
        parts.append("## Headline: Keras/Gluon epoch time, measured in rounds")
        parts.append("Each round runs every arm of a configuration back to back, in a shuffled "
                     "order; the ratio is the geometric mean of the per-round ratios, with a 95% "
                     "t-interval on their logs.")
        parts.append(headline_markdown([(d.name, rows) for d, rows in machines
                                        if oldest_method(rows) >= METHOD]))
    parts.append(CORRECTNESS)
    for run_dir, rows in machines:
        parts.append(machine_section(run_dir, rows, plot_notes.get(run_dir.name, ())))
    parts.append(historical_markdown())
    return "\n\n".join(parts) + "\n"


def regenerate(results_dir):
    """Rewrite every results/*/summary.md, the PNGs and results/README.md.

    Returns one-line notes (sweeps running, empty results, how many plots were not drawn).  Raises ReportError
    for a missing results folder or a broken runs.csv.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"{results_dir}: no such results folder")
    notes, plot_notes = [], {}
    for run_dir in run_dirs(results_dir):
        rows = read_machine(run_dir)
        label = run_dir.name
        busy = record.running(run_dir)
        if busy:
            notes.append(f"{label}: a sweep is running ({busy}); its tables hold the rows "
                         "written so far")
        (run_dir / "summary.md").write_text(summary_markdown(rows, f"Benchmark summary: {label}"))
        _, plot_notes[label] = render_plots(rows, run_dir, label)
        operators.render(run_dir)   # operators.png, shown in its own section
    if not run_dirs(results_dir):
        notes.append(f"{results_dir}: no <label>/{RUNS_FILE} found; README has the historical "
                     "reference only")
    (results_dir / "README.md").write_text(readme_markdown(results_dir, plot_notes))
    # Which plots a folder's rows can't draw is said in README.md, under the folder; the console
    # gets the count.
    skipped = sum(len(n) for n in plot_notes.values())
    if skipped:
        notes.append(f"{results_dir / 'README.md'}: written; {skipped} "
                     f"plot{'s' if skipped > 1 else ''} not drawn, each named under its folder "
                     "with the reason")
    return notes
