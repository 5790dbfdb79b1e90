"""Your own model (`bench.py --model FILE.py[:FUNCTION]`): a section per model, with what the
fused path gives back (Keras/Keras fused), what Keras's loop costs (Keras/Keras graph), each with
its 95% CI, the check each arm passed before it was timed, the layers fused and kept, and the top
operators where the sweep was profiled.

A model is a scenario whose rows carry a model_sha256: a changed file is another model (another
configuration), and its section says which file and hash it measured.
"""
from cell import arms
from cell.arms import FUSED, control_for, fix_pairs, is_fused
from report import frame
from report.names import context_label, impl_name, pair_title, table
from report.operators import per_step, top_operators
from report.ratios import all_pairs
from report.storage import read_operators

MODEL_PAIRS = [("keras", FUSED), ("keras", "keras-graph"), (control_for(model=True).name, "keras")]


def is_model(rows):
    """The rows of --model sweeps (a frame)."""
    rows = frame.as_frame(rows)
    return rows[rows["model_sha256"] != ""]


def _verified(rows, reference=False):
    """'Keras fused: yes; Keras fused (rnn): predictions differ ...' over the arms checked against
    stock keras; with `reference`, the keras arm's check against Keras on TensorFlow."""
    found = {r["arm"]: r["verified"] for r in frame.records(rows) if r.get("verified")
             and bool(arms.get(r["arm"]).checked_against) != reference}
    return "; ".join(f"{impl_name(arm)}: {found[arm]}" for arm in sorted(found))


def _layers(rows, column):
    values = sorted({r[column] for r in frame.records(rows) if r.get(column)})
    return " | ".join(values) or "none"


def ratio_table(mine):
    """The ratios of one model's rows (a frame), with their CIs, as a markdown table; ''
    without any."""
    arms = set(mine["arm"])
    pairs = MODEL_PAIRS + [p for p in fix_pairs(arms) if p not in MODEL_PAIRS]
    found = all_pairs(mine, [p for p in pairs if set(p) <= arms])
    shown = [[context_label(r.ctx, r.workers, dtype=r.dtype, threads=r.threads), r.batch_size,
              pair_title(r.numerator, r.denominator), str(r)] for r in found]
    return table(["context", "batch", "ratio", "epoch time (95% CI)"], shown) if shown else ""


def sweep_tables(rows):
    """Each model's ratio table, titled, for the console at the end of a --model sweep."""
    rows = is_model(rows)
    tables = [(scenario, ratio_table(mine)) for (scenario, _), mine
              in rows.groupby(["scenario", "model_sha256"], sort=True)]
    return "\n\n".join(f"{scenario}:\n\n{table}" for scenario, table in tables if table)


def model_section(run_dir, rows, level=2):
    """The section of every model measured in one folder; '' for a folder without one."""
    rows = is_model(rows)
    if rows.empty:
        return ""
    hashes = "#" * level
    steps = per_step(read_operators(run_dir))
    parts = []
    for (scenario, sha), mine in rows.groupby(["scenario", "model_sha256"], sort=True):
        first = frame.records(mine.head(1))[0]
        fused = mine[mine["arm"].map(is_fused)]
        reference = _verified(mine, True)
        text = [f"{hashes} Your model: {scenario}",
                f"`{first.get('model_file')}` (sha256 {sha[:12]}), "
                f"{first.get('parameters') or 0:,} parameters, synthetic data shaped from the "
                f"model, {first['samples'] or 'all'} samples.",
                ratio_table(mine)
                or "No pair of its arms finished in the same rounds: no ratio yet.",
                "Checked before timing, on one batch against stock Keras: "
                f"{_verified(mine) or 'no arm checked'}."
                + (f" Stock keras against Keras on TensorFlow: {reference}." if reference else ""),
                f"Layers fused: {_layers(fused, 'fused_layers')}.",
                f"Layers kept stock, with why: {_layers(fused, 'kept_layers')}."]
        operators = [f"- {impl_name(arm)} at batch {cell[2]}: " + ", ".join(
            f"{name} {by_arm[arm][name]:.2f} ms" for name in top_operators(by_arm[arm], 5))
            for cell, by_arm in sorted(steps.items(), key=str) if cell[0] == scenario
            for arm in sorted(by_arm)]
        if operators:
            text.append("Top operators per step (`--profile`):\n\n" + "\n".join(operators))
        parts.append("\n\n".join(text))
    return "\n\n".join(parts)
