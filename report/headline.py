"""The answer in one screen: per machine, one table of epoch-time ratios with their 95% CIs (a row
per scenario and arm pair, a column per context and batch), the sweeps it comes from, a few
computed sentences and a reproducibility line.

A headline cell comes from the latest sweep of the current method (storage.METHOD) that measured
its scenario, context and batch on that machine; each of its pairs from that one sweep, so a
column's ratios were measured together. Earlier sweeps of the same configuration give the
reproducibility line.
"""
from pathlib import Path

import scenarios
from cell.arms import FUSED
from report import frame, models
from report.names import context_label, pair_name, table, text, threads_label
from report.ratios import all_pairs
from report.storage import METHOD

# The rows of a headline table, per scenario: the question, then what the fused path leaves and
# what it gives back (shown where measured).
HEADLINE_PAIRS = [("keras", "gluon"), (FUSED, "gluon"), ("keras", FUSED)]
QUESTION, LEFT, BACK = HEADLINE_PAIRS
# A headline column: one context (and thread setting) at one batch size.
COLUMN = ["ctx", "workers", "dtype", "data", "threads", "batch_size", "by_turns"]
THREADS, BATCH = COLUMN.index("threads"), COLUMN.index("batch_size")
MACHINE = ["cpu", "cores", "gpus"]
CHART = "headline-{slug}.png"
INTRO = text("readme", "intro")


def scenario_title(name):
    return getattr(scenarios.SCENARIOS.get(name), "title", name)


def column_title(column):
    ctx, workers, dtype, data, threads, batch, *by_turns = column
    return context_label(ctx, workers, data, dtype, threads=threads, batch=batch,
                         by_turns=bool(by_turns and by_turns[0]))


def _column_order(column):
    """cpu before cpu:0-1 before workers before gpu; then threads, dtype, data, batch."""
    ctx, workers, dtype, data, threads, batch, *by_turns = column
    return (ctx.startswith("gpu"), workers, ctx, threads != "all", threads, dtype, data, batch,
            bool(by_turns and by_turns[0]))


def machine_title(machine):
    cpu, cores, gpus = machine
    title = f"{cpu or 'unknown CPU'}, {cores} cores" if cores else (cpu or "unknown machine")
    return title + (f", {gpus}" if gpus else "")


def slug(machine):
    words = "".join(c if c.isalnum() else " " for c in "{} {}cores {}".format(*machine).lower())
    return "-".join(words.split()) or "machine"


class Sweep:
    """One results folder: its label, rows (a frame), machine, method, dates and ratios."""

    def __init__(self, run_dir, rows, link):
        self.path = Path(run_dir)
        self.label = self.path.name
        self.link = link   # its summary.md, relative to the page that links it
        self.rows = frame.as_frame(rows)
        first = frame.records(self.rows.head(1))   # (cpu, cores, gpus): where the sweep ran
        self.machine = tuple((first[0].get(name) or "") if first else "" for name in MACHINE)
        self.method = min(self.rows["method"], default=METHOD)   # the oldest method of its rows
        started = sorted(s for s in self.rows["started_at"] if s)
        self.first, self.last = (started[0], started[-1]) if started else ("", "")
        # when each configuration was last measured: a folder may hold several sweeps
        last = self.rows.dropna(subset=["started_at"]).groupby(frame.LINE)["started_at"].max()
        # the two scenarios only: a --model's ratios have a section of their own (report.models)
        self.ratios = [r for r in all_pairs(self.rows, HEADLINE_PAIRS) if not r.model_sha256]
        for r in self.ratios:
            r.where.update(column=tuple(r[c] for c in COLUMN),
                           last=last.get((*r.group, r.batch_size), ""))


def machines(sweeps):
    """[(machine, [sweeps of the current method with a headline ratio])], the machine measured
    most recently first."""
    found = {}
    for sweep in sweeps:
        if sweep.method >= METHOD and sweep.ratios:
            found.setdefault(sweep.machine, []).append(sweep)
    return sorted(sorted(found.items()), key=lambda kv: max(s.last for s in kv[1]), reverse=True)


def cells(sweeps):
    """{(scenario, column): ({pair: sweep}, {pair: ratio})}: each cell (a pair at a column) from
    the latest sweep that measured it (by when its configuration was last measured)."""
    found = {}
    for sweep, r in sorted(((s, r) for s in sweeps for r in s.ratios),
                           key=lambda c: (c[1]["last"], c[0].label)):
        sources, ratios = found.setdefault((r.scenario, r.column), ({}, {}))
        sources[r.numerator, r.denominator] = sweep
        ratios[r.numerator, r.denominator] = r
    return dict(sorted(found.items()))


def machine_table(found, link=True, prefix=""):
    """The table and the line naming the sweeps each column comes from (their summary.md
    linked, `prefix` before each link)."""
    columns = sorted({column for _, column in found}, key=_column_order)
    body = []
    for scenario in sorted({scenario for scenario, _ in found}):
        for pair in HEADLINE_PAIRS:
            shown = [found.get((scenario, c), (None, {}))[1].get(pair) for c in columns]
            if any(shown):
                body.append([scenario_title(scenario), pair_name(*pair)]
                            + [r.cell() if r else "—" for r in shown])
    shown = table(["scenario", "epoch time"] + [column_title(c) for c in columns], body)
    used, by_label = {}, {}   # column: the pairs shown; label: [(column, pair, sweep, samples)]
    for (_, column), (sources, ratios) in found.items():
        for pair, sweep in sources.items():
            used.setdefault(column, set()).add(pair)
            by_label.setdefault(sweep.label, []).append(
                (column, pair, sweep, ratios[pair]["samples"]))
    parts = []
    for label in sorted(sorted(by_label),
                        key=lambda label: min(_column_order(e[0]) for e in by_label[label])):
        entries = by_label[label]
        sweep = entries[0][2]
        titles = []
        for column in sorted({e[0] for e in entries}, key=_column_order):
            mine = {e[1] for e in entries if e[0] == column}
            titles.append(column_title(column) + ("" if mine == used[column] else " (" + ", ".join(
                pair_name(*p) for p in HEADLINE_PAIRS if p in mine) + ")"))
        samples = ", ".join(f"{n:,}" if n else "all" for n in sorted({e[3] for e in entries}))
        name = f"[{label}]({prefix}{sweep.link})" if link else label
        parts.append(f"{', '.join(titles)}: {name} ({samples} samples)")
    return shown, "Sweeps: " + "; ".join(parts) + "."


def _but(column, index):
    """A headline column without one of its fields (COLUMN's index): the columns that differ
    in that field alone, and in no other, are the same configuration otherwise."""
    return column[:index] + column[index + 1:]


def _reference(found, scenario):
    """The column a scenario's sentences quote: cpu b128 where measured, else its first."""
    columns = sorted((c for s, c in found if s == scenario), key=_column_order)
    preferred = [c for c in columns if c[0] == "cpu" and c[1] == 1 and c[BATCH] == 128
                 and c[THREADS] == "all"]
    return (preferred or columns)[0]


def _joined(scenarios, ratio_of, first_only):
    return " and ".join(f"{ratio_of(s)}" + (first_only if s == scenarios[0] else "")
                        + f" on {scenario_title(s)}" for s in scenarios)


def sentences(found):
    """3-5 sentences computed from the machine's table."""
    names = sorted({scenario for scenario, _ in found})
    refs = {s: _reference(found, s) for s in names}
    pick = {s: found[s, refs[s]][1] for s in names}
    lines = []
    asked = [s for s in names if QUESTION in pick[s]]
    if asked:
        lines.append("Keras costs " + _joined(asked, lambda s: pick[s][QUESTION].cell(),
                                              " Gluon's epoch time")
                     + f" ({column_title(refs[asked[0]])}).")
    fused = [s for s in names if LEFT in pick[s]]
    if fused:
        back = [s for s in fused if BACK in pick[s]]
        lines.append("With the opt-in fused path (shim/fused/), a Keras user's unchanged model "
                     "runs at " + _joined(fused, lambda s: pick[s][LEFT].cell(), " Gluon's")
                     + (": it gives back " + " and ".join(f"{pick[s][BACK].ratio:.2f}x"
                                                          for s in back) if back else "") + ".")
    spans = []
    for s in asked:
        # the reference's configuration at every batch: by the same method too (it once
        # spanned a by-turns column of one sweep and a by-rounds column of another)
        batches = [found[s, c][1][QUESTION] for ss, c in found if ss == s and
                   _but(c, BATCH) == _but(refs[s], BATCH) and QUESTION in found[s, c][1]]
        if len(batches) > 1:
            low, high = (pick_(batches, key=lambda r: r["ratio"]) for pick_ in (min, max))
            spans.append(f"from {low['ratio']:.2f}x (b{low['batch_size']}) to "
                         f"{high['ratio']:.2f}x (b{high['batch_size']}) on {scenario_title(s)}")
    if spans:
        lines.append(f"Over the batch sizes on {refs[asked[0]][0]}, Keras/Gluon runs "
                     + " and ".join(spans) + ".")
    lines += per_core(found, refs)
    others = sorted({c[:5] for s, c in found if c[:5] != refs[s][:5] and c[THREADS] == "all"},
                    key=lambda context: _column_order(context + (0,)))
    for context in others[:2]:
        quoted = []
        for s in names:
            for column in [c for ss, c in found if ss == s and c[:5] == context][:1]:
                pairs = found[s, column][1]
                shown = [f"{pair_name(*p)} {pairs[p].cell()}" for p in HEADLINE_PAIRS[:2]
                         if p in pairs]
                if shown:
                    quoted.append(f"{scenario_title(s)} {', '.join(shown)}")
        if quoted:
            lines.append(f"On {column_title(context + (0,)).rsplit(' b', 1)[0]} (b{column[5]}): "
                         + "; ".join(quoted) + ".")
    return lines


def per_core(found, refs):
    """Per scenario with a per-core column (--threads N) at its reference column's context and
    batch, beside the all-cores column that differs from it in the threads alone (the
    reference's where it does, else one by another method): the two answers, and which to
    quote on a machine whose state wanders (the narrower CI's). The two were once taken from
    columns of different methods and sweeps (a by-turns per-core column against a by-rounds
    reference)."""
    def all_cores(column):
        return column[:THREADS] + ("all",) + column[THREADS + 1:]

    lines = []
    for s, ref in sorted(refs.items()):
        cores = [c for ss, c in found if ss == s and c[THREADS] != "all"
                 and c[:THREADS] == ref[:THREADS] and c[BATCH] == ref[BATCH]
                 and QUESTION in found[s, c][1]
                 and QUESTION in found.get((s, all_cores(c)), (None, {}))[1]]
        if not cores:
            continue
        column = min(cores, key=lambda c: (all_cores(c) != ref, _column_order(c)))
        core, whole = (found[s, c][1][QUESTION] for c in (column, all_cores(column)))
        if whole["half_width"] is None or core["half_width"] is None:
            continue
        lines.append(text("readme", "per-core").format(
            scenario=scenario_title(s), column=column_title(all_cores(column)),
            threads=threads_label(core["threads"])[2:],
            core=core.cell(), core_width=core["half_width"], whole=whole.cell(),
            whole_width=whole["half_width"],
            steadier="per-core" if core["half_width"] < whole["half_width"] else "all-cores"))
    return lines


def reproducibility(sweeps, found):
    """One line per scenario: the range of Keras/Gluon over the sweeps of the machine that
    measured the configuration measured most often."""
    lines = []
    for s in sorted({scenario for scenario, _ in found}):
        asked = [r for sweep in sweeps for r in sweep.ratios
                 if r["scenario"] == s and (r["numerator"], r["denominator"]) == QUESTION]
        if not asked:
            continue
        column, repeated = max(frame.grouped(asked, COLUMN),
                               key=lambda g: (len(g[1]), g[0] == _reference(found, s)))
        if len(repeated) < 2:
            continue
        lines.append(text("readme", "reproducibility").format(
            scenario=scenario_title(s), column=column_title(column), n=len(repeated),
            low=min(r["ratio"] for r in repeated), high=max(r["ratio"] for r in repeated),
            prefixes=", ".join(f"{n:,}" if n else "all"
                               for n in sorted({r["samples"] for r in repeated}))))
    return lines


def machine_block(machine, sweeps, level=2, prefix=""):
    """The headline of one machine, as markdown (heading, table, sweeps, chart, sentences);
    `prefix`: the path of results/ from the page."""
    found = cells(sweeps)
    shown, sources = machine_table(found, prefix=prefix)
    chart = prefix + CHART.format(slug=slug(machine))
    return "\n\n".join([
        f"{'#' * level} {machine_title(machine)}", shown, sources,
        f"![Epoch-time ratios with 95% CIs]({chart})",
        "\n".join(f"- {line}" for line in sentences(found) + reproducibility(sweeps, found))])


def sweep_table(rows):
    """The headline table of one sweep's rows, for the console at the end of a sweep (a
    --model sweep's: its model's ratios)."""
    found = cells([Sweep("this sweep", rows, "")])
    return machine_table(found, link=False)[0] if found else models.sweep_tables(rows)
