"""PNG plots of one machine's finished cells, written next to its runs.csv. Real and synthetic
data are always separate series (synthetic: dashed lines, hollow markers, hatched bars and
'(synthetic)' in the legend). A plot with nothing to show is skipped with a one-line note."""
from pathlib import Path
from statistics import median

import matplotlib

matplotlib.use("Agg")  # no display on benchmark machines
import matplotlib.pyplot as plt  # noqa: E402

from cell.arms import FUSED, colour, ordered  # noqa: E402
from report import drawn, frame, operators  # noqa: E402
from report.conclusions import scaling_series  # noqa: E402
from report.frame import median_of  # noqa: E402
from report.names import context_label, impl_name, pair_name  # noqa: E402
from report.ratios import paired_ratios  # noqa: E402
from report.storage import device_kind, read_operators  # noqa: E402

PANEL_SIZE = (5.2, 4.2)
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
SERIES = ["arm"] + frame.GROUP[1:]   # a line: one arm in one configuration but its batch
BATCH_AXIS = "global batch size (samples, log2 scale)"
SAME_TIME = "1.0 = same epoch time"


class Skipped(Exception):
    """Raised by a plot function when its data is missing; the message says what is missing."""


def _synthetic(data):
    """Dashes, and hollow markers (visible even where a series is a single point)."""
    return dict(linestyle="--", markerfacecolor="white") if data == "synthetic" else \
        dict(linestyle="-")


class _Styles:
    """Gives each key (a context, say) the next style of a cycle, the same in every panel."""

    def __init__(self, cycle):
        self.cycle, self.given = cycle, {}

    def __call__(self, key):
        return self.given.setdefault(key, self.cycle[len(self.given) % len(self.cycle)])


def _panels(keys, title_of, ncols=2, panel_size=PANEL_SIZE):
    """A grid of axes, one per key, at most `ncols` wide; unused cells are hidden."""
    ncols = min(ncols, len(keys))
    nrows = -(-len(keys) // ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(panel_size[0] * ncols, panel_size[1] * nrows))
    axes = list(axes.flat)
    for ax in axes[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes, keys):
        ax.set_title(title_of(key))
        ax.grid(True, which="major", alpha=0.3)
    return fig, axes[:len(keys)]


def _finish(fig, title):
    """Title plus one legend for the whole figure (deduplicated across panels)."""
    handles = {}
    for ax in fig.axes:
        if ax.get_visible():
            for handle, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, handle)
    fig.suptitle(title)
    fig.legend(handles.values(), handles.keys(), loc="upper left",
               bbox_to_anchor=(1.0, 0.92), fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


def _per_batch_plot(rows, label, column, ylabel, title, log_y):
    """A panel per scenario: `column` (median over repeats, min–max bars) vs global batch; color
    says the arm, marker the context and dtype, dashes synthetic data."""
    rows = frame.records(frame.as_frame(rows))
    scenarios = sorted({r["scenario"] for r in rows if r.get(column) is not None})
    if not scenarios:
        raise Skipped(f"no finished cell has {column}")
    fig, axes = _panels(scenarios, lambda s: s)
    marker = _Styles(MARKERS)
    for ax, scenario in zip(axes, scenarios):
        for key, part in frame.grouped([r for r in rows if r["scenario"] == scenario], SERIES):
            arm, ctx, workers, data, dtype, samples, threads, _, by_turns = key
            style = dict(color=colour(arm), marker=marker((ctx, workers, dtype)))
            points = {batch: [r[column] for r in same if r[column] is not None]
                      for (batch,), same in frame.grouped(part, ["batch_size"])}
            xs = sorted(x for x in points if points[x])
            if not xs:
                continue
            ys = [median(points[x]) for x in xs]
            ax.errorbar(xs, ys, yerr=[[y - min(points[x]) for x, y in zip(xs, ys)],
                                      [max(points[x]) - y for x, y in zip(xs, ys)]],
                        capsize=3, alpha=0.85, **style, **_synthetic(data),
                        label=f"{impl_name(arm)} · " + context_label(
                            ctx, workers, data, dtype, samples, threads, by_turns=by_turns))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log" if log_y else "linear")
        ax.set(xlabel=BATCH_AXIS, ylabel=ylabel)
    return _finish(fig, f"{label}: {title}")


def plot_throughput(rows, label):
    return _per_batch_plot(rows, label, "samples_per_s",
                           "training throughput (samples/s, log scale)",
                           "throughput vs global batch size (median, min–max over repeats)",
                           log_y=True)


def plot_accuracy(rows, label):
    return _per_batch_plot(rows, label, "val_accuracy", "validation accuracy (fraction correct)",
                           "validation accuracy vs global batch size", log_y=False)


def _ci_bars(ratios):
    """The 95% CI as error bars; a ratio with no CI (one round) gets no bar."""
    return [[0 if r["ci_low"] is None else r["ratio"] - r["ci_low"] for r in ratios],
            [0 if r["ci_high"] is None else r["ci_high"] - r["ratio"] for r in ratios]]


def plot_overhead(rows, label):
    ratios = paired_ratios(rows, "keras", "gluon")
    if not ratios:
        raise Skipped("no cell has both a Keras and a Gluon run")
    scenarios = sorted({r["scenario"] for r in ratios})
    fig, axes = _panels(scenarios, lambda s: s)
    color = _Styles(plt.get_cmap("tab10").colors)
    for ax, scenario in zip(axes, scenarios):
        mine = [r for r in ratios if r["scenario"] == scenario]
        for key, points in frame.grouped(mine, frame.GROUP[1:]):
            points = sorted(points, key=lambda r: r["batch_size"])
            ax.errorbar([r["batch_size"] for r in points], [r["ratio"] for r in points],
                        yerr=_ci_bars(points), color=color(key), marker="o", capsize=3,
                        **_synthetic(key[2]), label=context_label(*key))
        ax.axhline(1.0, color="black", linewidth=1, linestyle=":", label=SAME_TIME)
        ax.set_xscale("log", base=2)
        ax.set(xlabel=BATCH_AXIS, ylabel="Keras epoch time / Gluon epoch time (×)")
    spread = ("one round per cell: no CI to show" if all(r["ci_low"] is None for r in ratios)
              else "geometric mean over rounds, 95% CI")
    return _finish(fig, f"{label}: Keras overhead over Gluon ({spread})")


def plot_scaling(rows, label):
    """Samples/s vs total devices at a fixed per-device batch, with ideal linear scaling."""
    series = {k: v for k, v in scaling_series(rows).items() if len(v) >= 2}
    if not series:
        raise Skipped("no implementation was run at two or more device counts "
                      "with the same per-device batch")
    panels = sorted({k[:2] for k in series})
    fig, axes = _panels(panels, lambda p: f"{p[0]}, {p[1].upper()}"
                        + (" (contexts share cores)" if p[1] == "cpu" else ""))
    marker = _Styles(MARKERS)
    for ax, panel in zip(axes, panels):
        counts = set()
        for key in sorted(k for k in series if k[:2] == panel):
            _, _, impl, batch, data, dtype, samples, threads, _, by_turns = key
            xs = sorted(series[key])
            ys = [series[key][x] for x in xs]
            counts.update(xs)
            ax.plot(xs, ys, color=colour(impl), marker=marker(batch),
                    linestyle=_synthetic(data)["linestyle"],
                    label=context_label(f"{impl_name(impl)} · {batch}/device", 1, data, dtype,
                                        samples, threads, by_turns=by_turns))
            # Ideal: the smallest device count's throughput (normally 1 device) times N.
            ax.plot(xs, [ys[0] * x / xs[0] for x in xs], color=colour(impl), linestyle=":",
                    alpha=0.6)
        ax.plot([], [], color="gray", linestyle=":", label="ideal linear scaling (dotted)")
        ax.set(xticks=sorted(counts), xlabel="devices (contexts × workers)",
               ylabel="training throughput (samples/s)", ylim=(0, None))
    return _finish(fig, f"{label}: scaling at fixed per-device batch")


def plot_warmup(rows, label):
    """Horizontal bars (many context labels stay readable): first-epoch seconds per arm; ticks:
    steady epoch time. A panel per scenario and device kind: CPU and GPU seconds differ a lot."""
    rows = [r for r in frame.records(frame.as_frame(rows)) if r.get("warmup_s") is not None]
    if not rows:
        raise Skipped("no finished cell has warmup_s")
    impls = ordered({r["arm"] for r in rows})
    height = 0.8 / len(impls)
    bar = ["ctx", "workers", "data", "dtype", "batch_size", "samples", "threads"]
    by_panel = dict(frame.grouped([dict(r, kind=device_kind(r["ctx"])) for r in rows],
                                  ["scenario", "kind"]))
    most_groups = max(len(frame.grouped(mine, bar)) for mine in by_panel.values())
    fig, axes = _panels(list(by_panel), lambda p: f"{p[0]}, {p[1].upper()}", panel_size=(
        PANEL_SIZE[0], 1.0 + 0.45 * most_groups * max(1, len(impls) / 2)))
    for ax, panel in zip(axes, by_panel):
        cells = dict(frame.grouped(by_panel[panel], ["arm"] + bar))
        groups = [key for key, _ in frame.grouped(by_panel[panel], bar)]
        for i, impl in enumerate(impls):
            for g, group in enumerate(groups):
                cell = cells.get((impl, *group))
                if not cell:
                    continue
                y = g + (i - (len(impls) - 1) / 2) * height
                ax.barh(y, median_of(cell, "warmup_s"), height, color=colour(impl),
                        hatch="//" if group[2] == "synthetic" else None, edgecolor="white",
                        label=f"{impl_name(impl)}: first epoch")
                steady = median_of(cell, "epoch_s_median")
                if steady is not None:
                    ax.plot([steady, steady], [y - height / 2, y + height / 2], color="black",
                            linewidth=2, label="black tick: median epoch (steady state)")
        ax.set_yticks(range(len(groups)))
        ax.set_yticklabels([f"{context_label(c, w, d, t, n, threads)}, batch {b}"
                            for c, w, d, t, b, n, threads in groups], fontsize="small")
        ax.invert_yaxis()  # first group on top, like a table
        ax.set_xlabel("seconds")
    return _finish(fig, f"{label}: warm-up cost (first epoch vs steady epoch, median over repeats)")


PLOTS = {"throughput": plot_throughput, "overhead": plot_overhead, "accuracy": plot_accuracy,
         "scaling": plot_scaling, "warmup": plot_warmup}
PLOT_NAMES = list(PLOTS)


def render_plots(rows, out_dir, label):
    """Write every plot that has data as <out_dir>/<name>.png: (written paths, one-line notes
    for the skipped plots). A skipped plot's old PNG is removed: no page shows stale data."""
    # The A/A control arm is Gluon run twice: it must not enter Gluon's throughput lines.
    arms = frame.without_controls(frame.finished(rows))   # a frame: each plot takes its view
    inputs = frame.records(arms)
    written, notes = [], []
    for name, plot in PLOTS.items():
        path = Path(out_dir) / f"{name}.png"
        key = drawn.key_of(name, label, inputs)
        if drawn.current(path, key):   # drawn from these rows already: it has data
            written.append(path)
            continue
        try:
            fig = plot(arms, label)
        except Skipped as why:
            notes.append(f"skipped {path.name}: {why}")
            path.unlink(missing_ok=True)
            continue
        # 'tight' grows the canvas to include the legend placed outside the axes.
        written.append(drawn.save(fig, path, key, dpi=100, bbox_inches="tight"))
    return written, notes


def plot_operators(run_dir):
    """operators.png beside operators.csv: stacked per-step time by category for each arm.
    Returns a one-line note when there is nothing to draw."""
    steps = operators.per_step(read_operators(run_dir))
    if not steps:
        return "operators: no operators.csv (bench.py --profile)"
    path = Path(run_dir) / f"{operators.PLOT_NAME}.png"
    key = drawn.key_of(operators.PLOT_NAME, sorted(steps.items(), key=str))
    if drawn.current(path, key):
        return None
    cells = sorted(steps, key=str)
    width = 4.4 * len(cells) + 2.0   # the legend's column on the right
    fig, axes = plt.subplots(1, len(cells), squeeze=False, figsize=(width, 4.6))
    for ax, cell in zip(axes[0], cells):
        arms = operators.arms_of(steps[cell])
        bottoms = [0.0] * len(arms)
        for kind, color in zip(operators.CATEGORIES, operators.CATEGORY_COLORS):
            heights = [operators.by_category(steps[cell][a])[kind] for a in arms]
            ax.bar([impl_name(a) for a in arms], heights, bottom=bottoms, color=color, label=kind)
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        for x, total in enumerate(bottoms):   # the whole step's operator time, readable on any bar
            ax.annotate(f"{total:,.1f} ms", (x, total), ha="center", va="bottom", fontsize=8)
        ax.set_title(operators.cell_text(cell), fontsize=9)
        ax.set_ylabel("ms per training step")
        ax.grid(True, axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles[::-1], labels[::-1], loc="center right", fontsize=8)
    fig.suptitle("Operator time per training step, by category (bench.py --profile)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.9 / width, 0.95))
    drawn.save(fig, path, key, dpi=110)
    return None


def plot_headline(found, title, path):
    """The headline chart of one machine (report.headline.cells' `found`): a panel per scenario,
    a group of bars per context and batch, a bar per arm pair, with its 95% CI."""
    from report import headline   # headline reads no plotting library; this reads it

    key = drawn.key_of(title, sorted((cell, pair, r["ratio"], r["ci_low"], r["ci_high"])
                                     for cell, (_, found_pairs) in found.items()
                                     for pair, r in found_pairs.items()))
    if drawn.current(path, key):
        return path
    names = sorted({scenario for scenario, _ in found})
    columns = sorted({column for _, column in found}, key=headline._column_order)
    pairs = [p for p in headline.HEADLINE_PAIRS if any(p in v[1] for v in found.values())]
    colours = {("keras", "gluon"): colour("keras"), (FUSED, "gluon"): colour(FUSED),
               ("keras", FUSED): "tab:gray"}
    width = 0.8 / max(1, len(pairs))
    fig, axes = _panels(names, headline.scenario_title,
                        panel_size=(max(PANEL_SIZE[0], 1.3 * len(columns)), PANEL_SIZE[1]))
    for ax, scenario in zip(axes, names):
        for i, pair in enumerate(pairs):
            shown = [(x, found[scenario, column][1][pair]) for x, column in enumerate(columns)
                     if pair in found.get((scenario, column), (None, {}))[1]]
            ax.bar([x + (i - (len(pairs) - 1) / 2) * width for x, _ in shown],
                   [r["ratio"] for _, r in shown], width, yerr=_ci_bars([r for _, r in shown]),
                   capsize=3, color=colours[pair], label=pair_name(*pair))
        ax.axhline(1.0, color="black", linewidth=1, linestyle=":", label=SAME_TIME)
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels([headline.column_title(c) for c in columns], fontsize="small",
                           rotation=20, ha="right")
        ax.set_ylabel("epoch-time ratio (×), 95% CI")
        ax.set_ylim(bottom=0)
    fig = _finish(fig, f"{title}: epoch-time ratios (geometric mean over rounds, 95% CI)")
    return drawn.save(fig, path, key, dpi=100, bbox_inches="tight")
