"""Rounds, confidence intervals, the A/A control, adaptive rounds and the noise record.

The sweeps here run a fake harness (as tests/test_bench.py does) whose epoch times are a known
function of the cell, so the ratios, and when the adaptive rounds stop, are known in advance.
Nothing here asserts a speed.
"""
import csv
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bench
from cell import noise
from report import names, plots, ratios
from report.summary import summary_markdown
from sweep import args as sweep_args
from sweep import folder as sweep_folder
from sweep import plan as sweep_plan
from sweep import process
from tests import helpers
from tests.helpers import cell_row, read_csv

ROOT = Path(__file__).resolve().parents[1]
# --method rounds: the fake harnesses here time no turns (tests/test_turns_sweep.py does)
SYNTHETIC = ["--scenario", "lenet", "--data", "synthetic", "--max-samples", "64", "--epochs",
             "3", "--batch-sizes", "32", "--quiet", "--method", "rounds"]


def fake_harness(tmp_path, keras_ratio="1.25", jitter="0.0", epochs="[1.0, 1.0]", sleep="0"):
    """A harness that trains nothing: Gluon's epoch takes 1 s, Keras's `keras_ratio` s times
    (1 + jitter) in odd rounds and (1 - jitter) in even ones; `epochs` are the timed epochs it
    reports (relative)."""
    return helpers.fake_harness(tmp_path, f"""
        time.sleep({sleep})
        print("Using MXNet backend", file=sys.stderr)   # a library notice: for the log only
        base = 1.0
        if cell["impl"] == "keras":
            base = {keras_ratio} * (1 + (1 if cell["round"] % 2 else -1) * {jitter})
        timed = [base * e for e in {epochs}]
        """)


def sweep(monkeypatch, tmp_path, harness, *args):
    monkeypatch.setattr(process, "HARNESS", harness)
    out = tmp_path / "out"
    assert bench.main(SYNTHETIC + ["--out", str(out), *args]) == 0
    return out, read_csv(out / "runs.csv"), read_csv(out / "ratios.csv")


# ---- the shuffle --------------------------------------------------------------------------

def test_every_round_runs_every_arm_once_in_a_seeded_shuffled_order():
    args = sweep_args.parser().parse_args(["--impl", "keras,gluon", "--control", "--rounds", "12",
                                      "--batch-sizes", "64,128", "--scenario", "lenet"])
    sweep_args.validate(args)
    cells = sweep_plan.plan(args)
    assert len(cells) == 12 * 2 * 3
    orders = {}
    for cell in cells:
        orders.setdefault((cell["round"], cell["batch_size"]), []).append(cell)
    for (round_number, _), group in orders.items():
        assert sorted(c["arm"] for c in group) == ["gluon", "gluon-control", "keras"]
        assert [c["order"] for c in group] == [1, 2, 3]      # back to back, positions recorded
        assert all(c["repeat"] == round_number for c in group)  # old readers see round = repeat
        assert {c["impl"] for c in group if c["arm"] == "gluon-control"} == {"gluon"}
    permutations = {tuple(c["arm"] for c in g) for g in orders.values()}
    assert len(permutations) >= 3   # 24 draws of 6 permutations: a fixed order would give 1
    assert sweep_plan.plan(args) == cells                        # seeded: a resume replays it
    args.seed = 1
    assert [c["arm"] for c in sweep_plan.plan(args)] != [c["arm"] for c in cells]


@pytest.mark.slow
def test_the_shuffled_order_is_the_order_run_and_recorded(monkeypatch, tmp_path):
    out, rows, _ = sweep(monkeypatch, tmp_path, fake_harness(tmp_path), "--rounds", "6",
                         "--control")
    assert len(rows) == 18 and all(r["status"] == "ok" for r in rows)
    by_round = {}
    for r in rows:   # runs.csv is in the order run
        by_round.setdefault(r["round"], []).append(r)
    assert sorted(by_round) == [str(i) for i in range(1, 7)]
    for group in by_round.values():
        assert [r["order"] for r in group] == ["1", "2", "3"]
    assert len({tuple(r["arm"] for r in g) for g in by_round.values()}) >= 2
    assert all(r["repeat"] == r["round"] for r in rows)


# ---- the CI -------------------------------------------------------------------------------

def rows_with_ratios(per_round, numerator="keras", denominator="gluon"):
    rows = []
    for i, ratio in enumerate(per_round, start=1):
        for arm, seconds in ((numerator, 2.0 * ratio), (denominator, 2.0)):
            rows.append(cell_row(arm.split("-")[0], seconds, arm=arm, round=i, repeat=i,
                                 samples_per_s=1.0, workers=1))
    return rows


def test_the_ci_is_a_t_interval_on_log_ratios():
    # log ratios +-0.1: mean 0, sd = sqrt(4 * 0.01 / 3); t(0.975, 3) = 3.182446
    (r,) = ratios.paired_ratios(rows_with_ratios([math.exp(0.1), math.exp(-0.1)] * 2))
    half = 3.182446 * math.sqrt(0.04 / 3) / 2
    assert r["n"] == 4 and r["paired"] and not r["before_rounds"]
    assert r["ratio"] == pytest.approx(1.0)
    assert r["ci_low"] == pytest.approx(math.exp(-half), rel=1e-6)
    assert r["ci_high"] == pytest.approx(math.exp(half), rel=1e-6)
    assert r["half_width"] == pytest.approx(math.exp(half) - 1, rel=1e-6)
    assert str(r) == "1.00x (95% CI 0.83–1.20, n=4)"

    # a constant ratio: the geometric mean, and a CI of zero width
    (r,) = ratios.paired_ratios(rows_with_ratios([1.5, 1.5, 1.5]))
    assert (r["ratio"], r["ci_low"], r["ci_high"]) == pytest.approx((1.5, 1.5, 1.5))
    # 2 and 8: the geometric mean is 4; t(0.975, 1) = 12.7062
    (r,) = ratios.paired_ratios(rows_with_ratios([2.0, 8.0]))
    assert r["ratio"] == pytest.approx(4.0)
    assert r["ci_high"] == pytest.approx(4 * math.exp(12.7062 * math.log(2)), rel=1e-4)
    (r,) = ratios.paired_ratios(rows_with_ratios([1.3]))
    assert r["ci_low"] is None and str(r) == "1.30x (n=1, no CI)"
    assert r.unstable() == "one round: no CI"


def test_an_outlying_round_is_flagged_and_kept():
    rows = rows_with_ratios([1.20, 1.21, 1.19, 1.20, 1.22, 1.18, 2.40])
    (r,) = ratios.paired_ratios(rows)
    assert r["n"] == 7   # kept
    assert [k for k, _ in r["outliers"]] == [7]
    assert "round 7 ratio is an outlier" in r.unstable()
    assert "round ratio 2.400 is an outlier" in summary_markdown(rows, "t")


def test_rows_from_before_rounds_pair_by_repeat_and_say_so():
    rows = rows_with_ratios([1.4, 1.5])
    for row in rows:
        del row["round"], row["arm"]
    (r,) = ratios.paired_ratios(rows)
    assert r["n"] == 2 and r["before_rounds"] and r["ratio"] == pytest.approx(math.sqrt(2.1))
    assert "Measured before rounds" in summary_markdown(rows, "t")


def test_a_prefix_run_is_never_paired_with_a_full_one_or_another_prefix():
    # The same rounds of one configuration, once on the full set, once on the first 1024 and
    # once on the first 2048 samples: three lines, three ratios, never one mixed.
    full = rows_with_ratios([1.2, 1.2])
    first_1024 = rows_with_ratios([2.0, 2.0])
    first_2048 = rows_with_ratios([3.0, 3.0])
    for row in first_1024:
        row["max_samples"] = 1024
    for row in first_2048:
        row["max_samples"] = 2048
    found = ratios.paired_ratios(full + first_1024 + first_2048)
    assert [(r["max_samples"], r["n"]) for r in found] == [(None, 2), (1024, 2), (2048, 2)]
    assert [r["ratio"] for r in found] == pytest.approx([1.2, 2.0, 3.0])
    assert [t["max_samples"] for t in ratios.ratios_table(full + first_1024)] == ["", 1024]
    text = summary_markdown(full + first_1024, "t")
    assert "lenet on cpu, first 1,024 samples" in text and "\n## lenet on cpu\n" in text
    for row in full + first_1024:
        row.update(val_accuracy=0.5, warmup_s=3.0, devices=1)
    for plot in (plots.plot_overhead, plots.plot_throughput, plots.plot_warmup):
        fig = plot(full + first_1024, "t")
        shown = [t.get_text() for t in fig.axes[0].get_yticklabels()] if plot is plots.plot_warmup \
            else fig.axes[0].get_legend_handles_labels()[1]
        assert any("first 1,024 samples" in t for t in shown) and any(
            "cpu" in t and "first" not in t for t in shown), (plot.__name__, shown)


@pytest.mark.slow
def test_a_second_sweep_never_writes_its_rounds_beside_an_earlier_ones(monkeypatch, tmp_path,
                                                                        capsys):
    monkeypatch.setattr(process, "HARNESS", fake_harness(tmp_path, keras_ratio="1.25"))
    monkeypatch.setattr(sweep_folder, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(sweep_folder, "default_label", lambda: "box")
    assert bench.main(SYNTHETIC + ["--rounds", "2"]) == 0
    first = read_csv(tmp_path / "results" / "box" / "runs.csv")
    # the default label moves on: the earlier sweep's rows stay as they were, alone
    monkeypatch.setattr(process, "HARNESS", fake_harness(tmp_path, keras_ratio="2.0"))
    assert bench.main(SYNTHETIC + ["--rounds", "2"]) == 0
    assert "this one writes " + str(tmp_path / "results" / "box-2") in capsys.readouterr().out
    assert read_csv(tmp_path / "results" / "box" / "runs.csv") == first
    (ratio,) = read_csv(tmp_path / "results" / "box-2" / "ratios.csv")
    assert float(ratio["ratio"]) == pytest.approx(2.0)
    # a folder the user named is refused, in one line; --resume continues the sweep in it
    assert bench.main(SYNTHETIC + ["--rounds", "3", "--label", "box"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("bench.py: error: ") and "box already holds an earlier sweep" in error
    assert "\n" not in error
    assert bench.main(SYNTHETIC + ["--rounds", "3", "--label", "box", "--resume"]) == 0
    rows = read_csv(tmp_path / "results" / "box" / "runs.csv")
    assert rows[:len(first)] == first and {r["round"] for r in rows} == {"1", "2", "3"}
    # another configuration may join a folder without --resume
    assert bench.main(SYNTHETIC + ["--rounds", "1", "--label", "box", "--batch-sizes", "16"]) == 0

@pytest.mark.slow
def test_resume_refuses_a_sweep_measured_by_an_older_method(monkeypatch, tmp_path, capsys):
    from report.storage import METHOD, append_row

    monkeypatch.setattr(process, "HARNESS", fake_harness(tmp_path, keras_ratio="1.25"))
    monkeypatch.setattr(sweep_folder, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(sweep_folder, "default_label", lambda: "box")
    assert bench.main(SYNTHETIC + ["--rounds", "1"]) == 0
    rows = read_csv(tmp_path / "results" / "box" / "runs.csv")
    assert {r["method"] for r in rows} == {str(METHOD)}   # every row says how it was measured
    assert bench.main(SYNTHETIC + ["--rounds", "2", "--resume"]) == 0   # same method: continues
    for row in rows_with_ratios([1.2, 1.3]):   # rounds from before method 2 (no method)
        append_row(tmp_path / "results" / "old" / "runs.csv", row)
    for flags in (["--label", "old"], ["--out", str(tmp_path / "results" / "old")]):
        assert bench.main(SYNTHETIC + ["--rounds", "3", "--resume"] + flags) == 2
        error = capsys.readouterr().err.strip()
        assert "old was measured by method 1, this bench.py measures by method 2" in error
        assert "\n" not in error
    monkeypatch.setattr(sweep_folder, "default_label", lambda: "old")
    assert bench.main(SYNTHETIC + ["--rounds", "3", "--resume"]) == 2


# ---- ratios.csv and the control -----------------------------------------------------------

@pytest.mark.slow
def test_the_control_arm_and_ratios_csv(monkeypatch, tmp_path):
    out, rows, table = sweep(monkeypatch, tmp_path, fake_harness(tmp_path, jitter="0.01"),
                             "--rounds", "3", "--control", "--impl", "keras,gluon")
    assert next(csv.reader(open(out / "ratios.csv"))) == [
        "scenario", "ctx", "workers", "kvstore", "batch_size", "dtype", "max_samples",
        "numerator", "denominator", "rounds", "ratio", "ci_low", "ci_high", "ci_level",
        "half_width", "unstable", "threads", "method", "turn_spread"]
    control = [r for r in rows if r["arm"] == "gluon-control"]
    assert len(control) == 3 and {r["impl"] for r in control} == {"gluon"}
    assert sorted(r["round"] for r in control) == ["1", "2", "3"]
    assert [(r["numerator"], r["denominator"]) for r in table] == [
        ("keras", "gluon"), ("gluon-control", "gluon")]
    keras, aa = table
    assert (keras["scenario"], keras["ctx"], keras["batch_size"], keras["max_samples"],
            keras["rounds"], keras["ci_level"]) == ("lenet", "cpu", "32", "64", "3", "0.95")
    for r in table:
        assert float(r["ci_low"]) <= float(r["ratio"]) <= float(r["ci_high"])
    assert float(keras["ci_low"]) > 1.2
    assert float(aa["ci_low"]) <= 1.0 <= float(aa["ci_high"])   # A/A: the same cell twice
    summary = (out / "summary.md").read_text()
    assert "noise floor (A/A, Gluon twice)" in summary and "±0.0% (A/A 1.00x" in summary
    assert "Gluon (A/A control) samples/s" not in summary   # not an implementation of its own


# ---- adaptive rounds ----------------------------------------------------------------------

def rounds_run(rows, arm="keras"):
    return sorted(int(r["round"]) for r in rows if r["arm"] == arm)


@pytest.mark.slow
def test_adaptive_rounds_stop_at_the_target(monkeypatch, tmp_path):
    _, rows, table = sweep(monkeypatch, tmp_path, fake_harness(tmp_path, jitter="0.002"),
                           "--target-ci", "0.05", "--max-rounds", "8")
    assert rounds_run(rows) == [1, 2, 3]     # at least 3; narrow enough then
    assert table[0]["unstable"] == "" and float(table[0]["half_width"]) <= 0.05


@pytest.mark.slow
def test_adaptive_rounds_stop_at_max_rounds_and_say_why(monkeypatch, tmp_path):
    _, rows, table = sweep(monkeypatch, tmp_path, fake_harness(tmp_path, jitter="0.2"),
                           "--target-ci", "0.01", "--max-rounds", "5")
    assert rounds_run(rows) == [1, 2, 3, 4, 5]
    assert table[0]["rounds"] == "5"
    assert table[0]["unstable"].startswith("CI +-") and table[0]["unstable"].endswith(
        "> 1% after 5 rounds")


@pytest.mark.slow
def test_adaptive_rounds_stop_when_the_budget_is_spent(monkeypatch, tmp_path, capsys):
    # Each cell takes at least 0.5 s; a budget of 3 s cannot hold 20 rounds of two cells.
    _, rows, table = sweep(monkeypatch, tmp_path, fake_harness(tmp_path, jitter="0.2", sleep=0.5),
                           "--target-ci", "0.01", "--budget-min", "0.05", "--max-rounds", "20")
    done = rounds_run(rows)
    assert done == list(range(1, len(done) + 1)) and len(done) < 20
    assert rounds_run(rows, "gluon") == done          # no round left half done
    assert "budget of 0.05 min spent" in capsys.readouterr().out
    assert "CI +-" in table[0]["unstable"] or "no CI" in table[0]["unstable"]



@pytest.mark.slow
def test_a_spent_budget_still_runs_the_cheaper_configurations(monkeypatch, tmp_path):
    # Batch 32's round takes about 12 s, batch 64's about 1 s; a budget of 20 s holds one round of
    # both, then rounds of batch 64 only, where stopping at the first misfit (batch 32, planned
    # first) would run none.
    _, rows, _ = sweep(monkeypatch, tmp_path, fake_harness(
        tmp_path, jitter="0.2", sleep="6 if cell['batch_size'] == 32 else 0"),
        "--batch-sizes", "32,64", "--target-ci", "0.01", "--budget-min", str(20 / 60),
        "--max-rounds", "6")
    by_batch = {b: rounds_run([r for r in rows if r["batch_size"] == b]) for b in ("32", "64")}
    assert by_batch["32"] == [1]
    assert by_batch["64"][:2] == [1, 2]

# ---- the noise record ---------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.real_canary
def test_a_noisy_cell_is_flagged_and_kept(monkeypatch, tmp_path):
    _, rows, _ = sweep(monkeypatch, tmp_path, fake_harness(tmp_path, epochs="[1.0, 1.4, 1.0]"),
                       "--impl", "gluon", "--epochs", "4")
    (row,) = rows
    assert row["status"] == "ok" and "epoch-time CV 20% >= 10%" in row["noise_flags"]
    for column in ("load_avg_1m", "other_cpu_s", "steal_s", "ctx_switches", "canary_ms"):
        assert row[column] != "", column
    steady = {"other_cpu_s": 0.0, "wall_s": 10.0}
    assert noise.flags(steady, [1.0, 1.02, 0.99]) == ""
    assert noise.flags({"other_cpu_s": 2.0, "wall_s": 10.0}, [1.0, 1.0]) == (
        "other processes used 0.20 cores >= 0.10")


@pytest.mark.slow
def test_the_probe_counts_other_processes_cpu_but_not_the_cells_own():
    spin = [sys.executable, "-c", "import time\nend = time.time() + 1\nwhile time.time() < end: pass"]
    probe = noise.Probe()
    other = subprocess.Popen(spin)          # not reaped before stop(): someone else's process
    # Wait for it to end without reaping it (poll() would reap it, and a reaped child's CPU time
    # counts as the cell's own): a zombie's state in /proc is 'Z'.
    while Path(f"/proc/{other.pid}/stat").read_text().split()[2] != "Z":
        time.sleep(0.05)
    record = probe.stop()
    other.wait()
    assert record["other_cpu_s"] >= 0.1 and "other processes used" in noise.flags(record, None)

    probe = noise.Probe()
    subprocess.run(spin)                    # reaped: the cell's own time
    record = probe.stop()
    assert record["ctx_switches"] >= 0
    assert record["other_cpu_s"] < 1.0 + record["wall_s"]   # the cell's second is not counted


@pytest.mark.slow
@pytest.mark.real_canary
def test_the_canary_times_real_work_in_a_process_of_its_own():
    threads = len(list(Path("/proc/self/task").iterdir()))
    reading = noise.canary_ms()
    assert isinstance(reading, float) and reading > 0
    assert len(list(Path("/proc/self/task").iterdir())) == threads   # no BLAS thread left here


@pytest.mark.slow
def test_cells_whose_canary_is_off_the_sweeps_median_are_flagged_and_kept(monkeypatch, tmp_path):
    # The machine's slow state (cell/noise.py): the third cell's canary reads 1.6x the others'.
    readings = iter([16.0, 16.4, 26.0, 15.8, 16.2, 16.1])
    monkeypatch.setattr(noise, "canary_ms", lambda: next(readings))
    out, rows, _ = sweep(monkeypatch, tmp_path, fake_harness(tmp_path, jitter="0.1"),
                         "--impl", "keras,gluon", "--rounds", "3")
    assert [float(r["canary_ms"]) for r in rows] == [16.0, 16.4, 26.0, 15.8, 16.2, 16.1]
    summary = (out / "summary.md").read_text()
    noise_section = summary.split("## Noise flags")[1].split("## Ratios by machine state")[0]
    flagged = [line for line in noise_section.splitlines() if "canary" in line and "|" in line]
    assert len(flagged) == 1 and "canary 26.0 ms, +61% from the sweep's median 16.1 ms" in flagged[0]
    assert flagged[0].split("|")[5].strip() == rows[2]["round"]           # the slow cell's round
    assert len(rows) == 6                                                  # kept, not dropped
    # The ratio again by state: the slow cell's round alone (Keras 1.25 x 1.1 or x 0.9 there),
    # and the two others; the ratio over all three rounds stays in the tables above.
    slow_round = int(rows[2]["round"])
    alone = 1.25 * (1.1 if slow_round % 2 else 0.9)
    rest = math.prod(1.25 * (1.1 if k % 2 else 0.9) for k in {1, 2, 3} - {slow_round}) ** 0.5
    (by_state,) = [line for line in summary.split("## Ratios by machine state")[1].splitlines()
                   if line.startswith("| lenet")]
    cells = [c.strip() for c in by_state.split("|")[1:-1]]
    assert cells[5].startswith(f"{rest:.2f}x (95% CI ") and cells[5].endswith("n=2), canary 16.1 ms")
    assert cells[6] == f"{alone:.2f}x (n=1, no CI), canary 26.0 ms" and cells[7] == str(slow_round)

    assert noise.canary_flags([{"canary_ms": 16.0}, {"canary_ms": 26.0}]) == {}   # < 3 readings
    steady = [{"canary_ms": v} for v in (16.0, 16.4, 17.5, None)]
    assert noise.canary_flags(steady) == {}                                # within 10%


# ---- the console and bad input ------------------------------------------------------------

@pytest.mark.slow
def test_the_console_shows_a_line_per_cell_and_the_notices_go_to_the_log(tmp_path):
    harness = fake_harness(tmp_path)
    failing = tmp_path / "failing.py"
    failing.write_text(
        "import json, runpy, sys\n"
        "if json.loads(sys.argv[1])['impl'] == 'keras':\n"
        "    print('Using MXNet backend', file=sys.stderr); print('cell failed: boom', file=sys.stderr)\n"
        "    sys.exit(1)\n"
        f"sys.argv[0] = {harness[1]!r}; runpy.run_path({harness[1]!r}, run_name='__main__')\n")
    driver = (f"import sys, bench; from sweep import process; process.HARNESS = [sys.executable, {str(failing)!r}]; "
              "sys.exit(bench.main(sys.argv[1:]))")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", driver, *SYNTHETIC, "--rounds", "2",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Using MXNet backend" not in done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert len([l for l in lines if l.startswith("lenet gluon cpu b32 round")]) == 2
    failed = [l for l in lines if l.startswith("cell failed: lenet keras")]
    assert len(failed) == 2 and "boom" in failed[0]
    logs = sorted((out / "logs").glob("*/cell.log"))
    assert len(logs) == 2 and "Using MXNet backend" in logs[0].read_text()
    assert "logs/lenet-keras-cpu-b32" in failed[0]


@pytest.mark.parametrize("args, says", [
    (["--rounds", "0"], "'0' is not a positive integer"),
    (["--repeat", "0"], "'0' is not a positive integer"),
    (["--target-ci", "0"], "'0' is not a relative half-width between 0 and 1"),
    (["--target-ci", "1"], "'1' is not a relative half-width between 0 and 1"),
    (["--target-ci", "-0.1"], "'-0.1' is not a relative half-width"),
    (["--budget-min", "0"], "'0' is not a positive number of minutes"),
    (["--budget-min", "-5"], "'-5' is not a positive number of minutes"),
    (["--control", "--impl", "keras"], "--control runs the gluon arm twice"),
])
def test_bad_round_flags_are_one_line_and_exit_status_2(args, says, capsys):
    assert bench.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]


def test_resume_counts_rows_from_before_rounds_as_their_round():
    from report.storage import cell_key

    args = sweep_args.parser().parse_args(SYNTHETIC + ["--rounds", "2", "--control"])
    sweep_args.validate(args)
    cells = sweep_plan.plan(args)
    old = dict(scenario="lenet", impl="keras", ctx="cpu", batch_size=32, repeat=2,
               data="synthetic", workers=1, dtype="float32", max_samples=64)   # no round, no arm
    assert [c["arm"] for c in cells if cell_key(c) == cell_key(old)] == ["keras"]
    control = next(c for c in cells if c["arm"] == "gluon-control" and c["round"] == 2)
    gluon = next(c for c in cells if c["arm"] == "gluon" and c["round"] == 2)
    assert cell_key(control) != cell_key(gluon)   # same impl, two cells


# ---- where ratios are shown ---------------------------------------------------------------

def test_the_overhead_plot_draws_the_ci(tmp_path):
    from report import plots

    rows = rows_with_ratios([1.2, 1.3, 1.25, 1.22])
    (r,) = ratios.paired_ratios(rows)
    fig = plots.plot_overhead(rows, "t")
    bars = [c for c in fig.axes[0].containers if hasattr(c, "has_yerr") and c.has_yerr]
    (segment,) = bars[0].lines[2][0].get_segments()
    assert segment[:, 1] == pytest.approx([r["ci_low"], r["ci_high"]])


@pytest.mark.slow
def test_the_headline_takes_folders_with_rounds_and_marks_the_others(tmp_path):
    from report.readme import folder_page, readme_markdown
    from report.storage import METHOD, append_row, read_rows

    environment = dict(cpu="Made-up CPU", cores=2, label="x")
    for row in rows_with_ratios([1.3, 1.4, 1.35]):
        append_row(tmp_path / "new-box" / "runs.csv", dict(row, method=METHOD, **environment))
    for row in rows_with_ratios([2.0, 2.2]):
        old = {k: v for k, v in row.items() if k not in ("round", "arm")}
        append_row(tmp_path / "old-box" / "runs.csv", dict(old, **environment))
    for row in rows_with_ratios([1.1, 1.2, 1.15]):   # rounds, but before method 2
        append_row(tmp_path / "throttled-box" / "runs.csv", dict(row, **environment))
    readme = readme_markdown(tmp_path)
    headline = readme.split("## Made-up CPU, 2 cores")[1].split("\n## ")[0]
    (r,) = ratios.paired_ratios(rows_with_ratios([1.3, 1.4, 1.35]))
    assert f"| Keras/Gluon  | {r.cell()} |" in headline
    assert "[new-box](new-box/summary.md)" in headline
    assert "old-box" not in headline and "throttled" not in headline
    assert f"- Keras costs {r.cell()} Gluon's epoch time on LeNet on MNIST (cpu b128)." \
        in headline
    index = readme.split("## Sweeps")[1].split("\n## ")[0]
    assert "| [new-box](new-box/summary.md) " in index and "| headline " in index
    assert index.count("before method 2: not comparable") == 2
    old = read_rows(tmp_path / "old-box")
    assert folder_page(tmp_path / "old-box", old).startswith("# Sweep old-box (before rounds)")
    throttled = read_rows(tmp_path / "throttled-box")
    assert folder_page(tmp_path / "throttled-box", throttled).startswith(
        "# Sweep throttled-box (Gluon throttled)")
