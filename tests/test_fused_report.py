"""The keras-fused arms in the report: ratios.csv's pairs, the fix ablation (each fix's share and
whether the shares account for the whole), results/README.md, and "Where the time goes" per fix.
Fake rows with known epoch times, as tests/test_rounds.py and tests/test_report.py use."""

import pytest

from report import ablation, names, operators, ratios, runs
from report.conclusions import conclusions
from report.names import impl_name
from report.summary import summary_markdown
from tests.helpers import cell_row

SHARES = {"keras-fused:bias": 1.5, "keras-fused:rnn": 1.2, "keras-fused:copies": 1.1}
COMPOUNDED = 1.5 * 1.2 * 1.1                                   # 1.98
ADDED = 1 / (1 - sum(1 - 1 / s for s in SHARES.values()))     # 2.444...
JITTER = [1.0, 1.01, 0.99, 1.005, 0.995]


def row(arm, seconds, round_number, batch=128, **extra):
    fixes = {"keras-fused": "bias+rnn+copies"}.get(arm, arm.partition(":")[2])
    return cell_row(arm, seconds, arm=arm, batch_size=batch, round=round_number,
                    repeat=round_number, samples_per_s=64 / seconds, workers=1, devices=1,
                    val_accuracy=0.9, fixes=fixes if arm.startswith("keras-fused") else None,
                    **extra)


def sweep_rows(whole, batch=128, shares=SHARES, extra_arms=()):
    """Five rounds: Keras 3 s (times the round's noise), Gluon 1 s, each fix arm Keras's time
    over its share, keras-fused Keras's time over `whole` (times a second, smaller noise)."""
    rows = []
    for i, noise in enumerate(JITTER, start=1):
        keras = 3.0 * noise
        rows += [row("keras", keras, i, batch), row("gluon", 1.0, i, batch),
                 row("keras-fused", keras / whole * JITTER[-i], i, batch)]
        rows += [row(arm, keras / share, i, batch) for arm, share in shares.items()]
        rows += [row(arm, keras / share, i, batch) for arm, share in extra_arms]
    return rows


def test_ratios_csv_pairs_keras_with_keras_fused_and_keras_fused_with_gluon():
    table = ratios.ratios_table(sweep_rows(COMPOUNDED, extra_arms=[("keras-fused:bias+rnn",
                                                                      1.8)]))
    found = {(t["numerator"], t["denominator"]): t for t in table}
    assert list(found) == [("keras", "gluon"), ("keras", "keras-fused"), ("keras-fused", "gluon"),
                           ("keras", "keras-fused:bias"), ("keras", "keras-fused:copies"),
                           ("keras", "keras-fused:rnn"), ("keras", "keras-fused:bias+rnn")]
    back, remains = found[("keras", "keras-fused")], found[("keras-fused", "gluon")]
    assert float(back["ratio"]) == pytest.approx(COMPOUNDED, rel=1e-3)
    assert float(back["ci_low"]) < COMPOUNDED < float(back["ci_high"])
    assert back["rounds"] == remains["rounds"] == 5
    # what remains times what comes back is Keras's whole cost, round by round
    assert float(remains["ratio"]) * float(back["ratio"]) == pytest.approx(
        float(found[("keras", "gluon")]["ratio"]), rel=1e-3)
    assert float(found[("keras", "keras-fused:bias")]["ratio"]) == pytest.approx(1.5)


def test_the_ablation_gives_each_share_and_checks_both_predictions_of_the_whole():
    rows = sweep_rows(COMPOUNDED) + sweep_rows(ADDED, batch=256)
    compounding, adding = ablation.ablation(rows)
    assert compounding["covers"] == ["bias", "copies", "rnn"]
    assert compounding["whole_fixes"] == "bias+rnn+copies"
    assert {a: s["ratio"] for a, s in compounding["shares"].items()} == pytest.approx(SHARES)
    assert compounding["compounding"]["ratio"] == pytest.approx(COMPOUNDED)
    assert compounding["adding"]["ratio"] == pytest.approx(ADDED)
    assert compounding["compounding"]["n"] == 5
    # batch 128's fixes compound: the product lies within keras/keras-fused's CI, the sum not
    assert compounding["compounding_within"] is True and compounding["adding_within"] is False
    # batch 256's add up: the other way round
    assert adding["compounding_within"] is False and adding["adding_within"] is True


def test_a_missing_fix_leaves_the_product_short_of_the_whole():
    shares = {k: v for k, v in SHARES.items() if k != "keras-fused:rnn"}
    (entry,) = ablation.ablation(sweep_rows(COMPOUNDED, shares=shares))
    assert entry["covers"] == ["bias", "copies"]
    assert entry["compounding"]["ratio"] == pytest.approx(1.5 * 1.1)
    assert entry["compounding_within"] is False


def test_no_ablation_without_a_fix_arm_or_without_keras():
    rows = [r for r in sweep_rows(COMPOUNDED) if r["arm"] in ("keras", "keras-fused", "gluon")]
    assert ablation.ablation(rows) == [] and ablation.ablation_markdown(rows) == ""
    assert "Fix ablation" not in summary_markdown(rows, "t")
    rows = [r for r in sweep_rows(COMPOUNDED) if r["arm"] != "keras"]
    assert ablation.ablation(rows) == []


def test_summary_shows_the_fused_ratios_and_the_ablation_table():
    text = summary_markdown(sweep_rows(COMPOUNDED), "t")
    assert "Keras/Keras fused epoch time" in text and "Keras fused/Gluon epoch time" in text
    assert "Keras fused (bias) samples/s" in text
    section = text.split("## Fix ablation")[1].split("\n## ")[0]
    header, _, line = section.strip().splitlines()[-3:]
    assert "Keras/Keras fused (bias)" in header and "product of the single-fix shares" in header
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:4] == ["lenet", "cpu", "128", "1.50x (95% CI 1.50–1.50, n=5)"]
    assert cells[6].startswith("1.98x (95% CI") and cells[6].endswith("(bias+rnn+copies)")
    assert cells[7] == "1.98x (95% CI 1.98–1.98, n=5) (bias, copies, rnn)"
    assert cells[8:] == ["yes", f"{ADDED:.2f}x (95% CI {ADDED:.2f}–{ADDED:.2f}, n=5) "
                                "(bias, copies, rnn)", "no"]


def test_the_results_readme_says_what_comes_back_and_what_remains():
    rows = sweep_rows(COMPOUNDED)
    back = ratios.paired_ratios(rows, "keras", "keras-fused")[0]
    remains = ratios.paired_ratios(rows, "keras-fused", "gluon")[0]
    found = [c for c in conclusions(rows) if isinstance(c, str) and c.startswith("Fused path")]
    assert found == [f"Fused path (shim/fused/), lenet on cpu, batch 128: it gives back "
                     f"Keras/Keras fused {names.format_ratio(back)}; Keras fused/Gluon "
                     f"{names.format_ratio(remains)} remains."]
    assert names.format_ratio(back).startswith("1.98x (95% CI")
    assert impl_name("keras-fused:bias+rnn") == "Keras fused (bias+rnn)"


def table_rows(markdown):
    """The cells of every pipe-table line of `markdown`."""
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in markdown.splitlines() if line.startswith("|")]


def op(arm, operator, ms, round_number=1):
    return dict(scenario="lenet", impl=arm, ctx="cpu", batch_size=128, dtype="float32",
                max_samples=None, round=round_number, operator=operator, ms_per_step=ms)


def profiled_operators():
    return ([op("keras", "broadcast_add", 20.0), op("keras", "Convolution", 10.0),
             op("keras", "dot", 30.0)]
            + [op("keras-fused:bias", "Convolution", 12.0), op("keras-fused:bias", "dot", 30.0)]
            + [op("keras-fused:rnn", "broadcast_add", 15.0), op("keras-fused:rnn", "Convolution",
                                                                 10.0),
               op("keras-fused:rnn", "RNN", 5.0), op("keras-fused:rnn", "dot", 5.0)]
            + [op("keras-fused", "Convolution", 12.0), op("keras-fused", "RNN", 5.0)]
            + [op("gluon", "Convolution", 12.0)])


def test_where_the_time_goes_attributes_the_recovered_time_to_each_fix():
    found = operators.recovered_by_fix(operators.per_step(profiled_operators()))
    assert [r["arm"] for r in found] == ["keras-fused:bias", "keras-fused:rnn", "keras-fused"]
    by_arm = {r["arm"]: r for r in found}
    assert by_arm["keras-fused:bias"]["saved_ms"] == pytest.approx(18.0)   # 60 - 42
    assert by_arm["keras-fused:bias"]["operators"] == [("broadcast_add", 20.0)]
    assert by_arm["keras-fused:rnn"]["saved_ms"] == pytest.approx(25.0)    # 60 - 35
    assert by_arm["keras-fused:rnn"]["operators"] == [("dot", 25.0), ("broadcast_add", 5.0)]
    assert by_arm["keras-fused"]["saved_ms"] == pytest.approx(43.0)
    assert table_rows(operators.recovered_markdown(found))[2] == [
        "lenet on cpu, batch 128", "Keras fused (bias)", "+18.00", "30%", "broadcast_add 20.00"]


def test_the_recovered_time_reaches_the_where_the_time_goes_section(tmp_path):
    by_cell = {}
    for o in profiled_operators():
        by_cell.setdefault(o["impl"], []).append(
            {"operator": o["operator"], "calls_per_step": 1.0, "ms_per_step": o["ms_per_step"],
             "share_of_step": 0.1})
    for arm, ops in by_cell.items():
        runs.append_operators(tmp_path / runs.OPERATORS_FILE,
                              dict(scenario="lenet", impl=arm, ctx="cpu", batch_size=128,
                                   dtype="float32", max_samples=None, round=1), ops)
    text = operators.section(tmp_path, sweep_rows(COMPOUNDED))
    assert "What the fused path's arms recover, by fix" in text
    assert ["lenet on cpu, batch 128", "Keras fused (rnn)", "+25.00", "42%",
            "dot 25.00, broadcast_add 5.00"] in table_rows(text)


def test_where_the_time_goes_names_what_remains_by_operator():
    text = operators.operators_markdown(operators.per_step(profiled_operators()))
    remains = text.split("in Keras fused's step over Gluon's")[1]
    assert remains.startswith(" (all operators: +5.00 ms per step)")
    assert ["RNN", "RNN", "5.00", "100%"] in table_rows(remains.split("\n\n")[1])


def test_the_plots_tell_the_fused_arms_apart(tmp_path):
    from report import plots

    arms = ["keras", "keras-fused", "gluon", "keras-fused:bias", "keras-fused:rnn",
            "keras-fused:copies"]
    assert len({plots._impl_color(a) for a in arms}) == len(arms)
    rows = [dict(r, warmup_s=3.0, train_samples=64) for r in sweep_rows(COMPOUNDED)]
    written, skipped = plots.render_plots(rows, tmp_path, "t")
    assert {p.name for p in written} >= {"throughput.png", "overhead.png", "warmup.png"}


def test_the_cumulative_ablation_adds_one_fix_at_a_time_and_multiplies_to_the_whole():
    # keras -> +bias -> +bias+rnn -> keras-fused (adds copies), each step with a known share
    chain = [("keras-fused:bias", 1.5), ("keras-fused:bias+rnn", 1.5 * 1.25)]
    whole = 1.5 * 1.25 * 1.1
    rows = sweep_rows(whole, shares={}, extra_arms=chain)
    (entry,) = ablation.cumulative(rows)
    assert [fix for fix, _ in entry["steps"]] == ["bias", "rnn", "copies"]
    assert [s["ratio"] for _, s in entry["steps"]][:2] == pytest.approx([1.5, 1.25])
    assert entry["product"]["ratio"] == pytest.approx(entry["whole"]["ratio"], rel=1e-9)
    assert entry["whole"]["ratio"] == pytest.approx(whole, rel=1e-2)
    text = summary_markdown(rows, "t")
    assert "Cumulative ablation" in text and "+bias 1.50x" in text
    # Single-fix arms alone, or a chain with a gap, make no cumulative table.
    assert ablation.cumulative(sweep_rows(COMPOUNDED)) == []
    gap = sweep_rows(whole, shares={}, extra_arms=[("keras-fused:bias", 1.5)])
    assert ablation.cumulative(gap) == [] and ablation.cumulative_markdown(gap) == ""
