"""results/README.md: the headline, then one section per machine with its conclusions
(report/conclusions.py), tables, plots and operator profile."""
import csv
from pathlib import Path

from tabulate import tabulate

from report import operators, record
from report.plots import PLOT_NAMES, render_plots
from report.runs import METHOD, RUNS_FILE, ReportError, method_of, read_machine
from report.conclusions import conclusions, ratio_configuration
from report.summary import (context_label, epoch_time_ratios, format_ratio, overhead_ratios,
                            summary_markdown, summary_sections)

HISTORICAL_CSV = Path(__file__).with_name("historical.csv")
CPU_CONTEXTS_NOTE = ("Several CPU contexts on one machine (e.g. ctx 'cpu:0-1') share the same "
                     "cores, so multi-context CPU rows measure the cost of data parallelism, "
                     "not a speed-up.")
ENVIRONMENT_FIELDS = [("host", "host"), ("cpu", "CPU"), ("cores", "cores"), ("gpus", "GPUs"),
                      ("python", "Python"), ("mxnet", "MXNet"), ("keras_mxnet", "keras-mxnet"),
                      ("numpy", "NumPy"), ("torch", "PyTorch"), ("git_commit", "git commit")]


def run_dirs(results_dir):
    """results/<label>/ folders that hold a runs.csv, sorted by label."""
    return sorted(p.parent for p in Path(results_dir).glob(f"*/{RUNS_FILE}"))


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
        "docs/fairness.md); not in the headline."),
    1: (" (Gluon throttled)", " Measured before method 2: on a CPU context with more than one "
        "OpenMP thread, the Gluon arm (and keras-graph) ran every operator with libgomp's "
        "throttled spin, from an OpenMP team its copy of the training set left on the Python "
        "thread (docs/fairness.md), which slowed it by up to 2x, so those Keras/Gluon "
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
    fused = {(label, pair): {ratio_configuration(r): r for r in epoch_time_ratios(rows, *pair)}
             for label, rows in machines for pair in FUSED_PAIRS}
    parts = []
    for (scenario, where), cells in sorted(tables.items()):
        table = [[r["batch_size"], format_ratio(r), r["n"],
                  "yes" if r["ci_low"] is not None and not r["ci_low"] <= 1 <= r["ci_high"]
                  else "no"]
                 + [format_ratio(fused[label, pair][ratio_configuration(r)])
                    if ratio_configuration(r) in fused[label, pair] else "—" for pair in FUSED_PAIRS]
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
