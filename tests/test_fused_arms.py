"""The keras-fused arms as bench.py, the harness and keras_models.train meet them: their names,
bad input, where they may run, the cells and rows they make. shim.fused is faked here
(tests/fake_fused.py), except where the real module's import cost is the point."""
import subprocess
import sys
from pathlib import Path

import pytest

import bench
from cell import arms
from shim import precision
from sweep import args as sweep_args
from sweep import plan as sweep_plan
from sweep import process
from tests import fake_fused
from tests import helpers
from tests.helpers import read_csv

ROOT = Path(__file__).resolve().parents[1]
# --method rounds: the fake harnesses here time no turns (tests/test_turns_sweep.py does)
SYNTHETIC = ["--scenario", "lenet", "--data", "synthetic", "--max-samples", "64", "--epochs",
             "3", "--batch-sizes", "32", "--quiet", "--method", "rounds"]


@pytest.fixture
def fused(monkeypatch):
    return fake_fused.install(monkeypatch)


def test_fused_arms_are_named_canonically_and_once(fused):
    arms = sweep_args.impl_list("keras,keras-fused,keras-fused:rnn+bias,keras-fused:bias+rnn,"
                           "keras-fused:copies+rnn+bias,keras-fused:all,gluon")
    # every fix is plain keras-fused, however it is spelled; fixes in FIXES order
    assert arms == ["keras", "keras-fused", "keras-fused:bias+rnn", "gluon"]
    assert sweep_args.fused_arm("keras-fused:copies+bias") == ("keras-fused:bias+copies",
                                                         ("bias", "copies"))
    assert sweep_args.fused_arm("keras-fused") == ("keras-fused", ("bias", "rnn", "copies"))
    fused.FIXES["dense"] = "FullyConnected"   # a fix added later makes keras-fused mean it too
    assert sweep_args.fused_arm("keras-fused:bias+rnn+copies")[0] == "keras-fused:bias+rnn+copies"


@pytest.mark.slow
@pytest.mark.parametrize("args, says", [
    (["--impl", "keras,keras-fused:bais"],
     "argument --impl: 'keras-fused:bais': unknown fix 'bais'; the fixes are bias, rnn, copies"),
    (["--impl", "keras,mx"], "'mx' is not one of keras, keras-graph, gluon, torch, keras-fused"),
    (["--impl", "torch,keras-fused:rnn"], "--impl keras-fused:rnn is measured against keras "
                                          "(what it gives back) or gluon (what remains)"),
    (["--impl", "keras-fused"], "add keras or gluon to --impl"),
])
def test_bad_fused_arms_are_one_line_and_exit_status_2(fused, capsys, tmp_path, args, says):
    out = tmp_path / "out"
    assert bench.main(SYNTHETIC + args + ["--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("where", [
    ["--ctx", "cpu:0-1"],
    ["--kvstore", "dist_sync", "--workers", "2"],
    ["--dtype", "bfloat16"],
    ["--ctx", "gpu:0-1"],     # validate only: the GPU preflight comes later, for every arm
    ["--profile"],
])
def test_keras_fused_is_allowed_wherever_keras_is(fused, where, monkeypatch):
    monkeypatch.setattr(precision, "bfloat16_kernels", lambda: True)   # whatever this CPU has
    for impl in ("keras,gluon", "keras,keras-fused,keras-fused:bias,gluon"):
        args = sweep_args.parser().parse_args(["--impl", impl, "--batch-sizes", "128"] + where)
        sweep_args.validate(args)   # raises UsageError where refused


def test_fused_arms_are_shuffled_with_the_others_and_carry_their_fixes(fused):
    args = sweep_args.parser().parse_args(["--impl", "keras,keras-fused,keras-fused:bias,gluon",
                                      "--scenario", "lenet", "--batch-sizes", "128",
                                      "--rounds", "6"])
    sweep_args.validate(args)
    cells = sweep_plan.plan(args)
    orders = {tuple(c["arm"] for c in cells if c["round"] == r) for r in range(1, 7)}
    assert len(orders) > 1   # shuffled afresh each round, fused arms among the others
    by_arm = {c["arm"]: c for c in cells}
    assert by_arm["keras-fused"]["fixes"] == ["bias", "rnn", "copies"]
    assert by_arm["keras-fused:bias"]["fixes"] == ["bias"]
    assert by_arm["keras-fused:bias"]["impl"] == "keras-fused:bias"   # impl = arm
    assert "fixes" not in by_arm["keras"] and "fixes" not in by_arm["gluon"]


def test_the_harness_trains_fused_arms_with_the_keras_module():
    assert arms.module_of("keras-fused") == arms.module_of("keras-fused:bias+rnn") \
        == "keras_models.train"
    assert arms.module_of("keras") == "keras_models.train"
    with pytest.raises(KeyError):
        arms.module_of("keras-fusion")


def test_train_enables_the_fixes_and_reports_the_layers(fused):
    from keras_models import train

    train.enable_fixes(("bias", "rnn"))
    assert fused.enabled() == ("bias", "rnn")
    assert train.fused_columns() == {
        "fixes": "bias+rnn", "fused_layers": "conv2d_1:bias",
        "kept_layers": "lstm_1:rnn (recurrent_activation='hard_sigmoid' has no fused kernel; "
                       "kept as stock)"}
    fused.enable = lambda fixes=None: None   # a path that ignored the request
    with pytest.raises(RuntimeError, match="left"):
        train.enable_fixes(("copies",))


def fake_harness(tmp_path):
    """Trains nothing: epoch seconds by arm (keras 2, keras-fused 1, keras-fused:bias 1.6,
    keras-fused:rnn 1.25, gluon 0.8); a fused arm reports its fixes and layers as
    keras_models.train does."""
    return helpers.fake_harness(tmp_path, """
        seconds = {"keras": 2.0, "keras-fused": 1.0, "keras-fused:bias": 1.6,
                   "keras-fused:rnn": 1.25, "gluon": 0.8}[cell["impl"]]
        timed = [seconds, seconds]
        if "fixes" in cell:
            extra = {"fixes": "+".join(cell["fixes"]), "fused_layers": "conv2d_1:bias",
                     "kept_layers": "lstm_1:rnn (masked)"}
        """)


@pytest.mark.slow
def test_a_sweep_records_the_fixes_and_pairs_the_fused_arms_by_round(fused, monkeypatch,
                                                                    tmp_path):
    monkeypatch.setattr(process, "HARNESS", fake_harness(tmp_path))
    out = tmp_path / "out"
    assert bench.main(SYNTHETIC + ["--out", str(out), "--rounds", "2", "--impl",
                                   "keras,keras-fused,keras-fused:bias,keras-fused:rnn,gluon"]) == 0
    rows = read_csv(out / "runs.csv")
    by_arm = {(r["arm"], r["round"]): r for r in rows}
    assert len(rows) == 10
    assert by_arm[("keras-fused", "1")]["fixes"] == "bias+rnn+copies"
    assert by_arm[("keras-fused:rnn", "2")]["fixes"] == "rnn"
    assert by_arm[("keras-fused:rnn", "2")]["kept_layers"] == "lstm_1:rnn (masked)"
    assert by_arm[("keras", "1")]["fixes"] == by_arm[("keras", "1")]["fused_layers"] == ""
    found = {(r["numerator"], r["denominator"]): r for r in read_csv(out / "ratios.csv")}
    assert set(found) == {("keras", "gluon"), ("keras", "keras-fused"), ("keras-fused", "gluon"),
                          ("keras", "keras-fused:bias"), ("keras", "keras-fused:rnn")}
    assert [float(found[p]["ratio"]) for p in [("keras", "keras-fused"), ("keras-fused", "gluon"),
                                               ("keras", "keras-fused:bias")]] == [2.0, 1.25, 1.25]
    assert all(found[p]["rounds"] == "2" for p in found)
    summary = (out / "summary.md").read_text()
    assert "Keras/Keras fused epoch time" in summary and "Fix ablation" in summary


@pytest.mark.slow
def test_a_failed_fused_cell_still_says_which_fixes_it_ran(fused, monkeypatch, tmp_path):
    script = tmp_path / "failing.py"
    script.write_text("import sys\nprint('cell failed: RuntimeError: no', file=sys.stderr)\n"
                      "sys.exit(1)\n")
    monkeypatch.setattr(process, "HARNESS", [sys.executable, str(script)])
    out = tmp_path / "out"
    assert bench.main(SYNTHETIC + ["--out", str(out), "--impl", "keras-fused:bias,gluon"]) == 0
    (row,) = [r for r in read_csv(out / "runs.csv") if r["arm"] == "keras-fused:bias"]
    assert row["status"] == "failed" and row["fixes"] == "bias"


@pytest.mark.slow
def test_bench_reads_the_fix_names_without_importing_keras_or_mxnet():
    # The real shim.fused: bench.py validates an arm's fixes by it, and must stay cheap.
    code = ("import sys, bench; from sweep import args; "
            "print(args.impl_list('keras-fused:bias,keras'));"
            "print(sorted(m for m in ('keras', 'mxnet') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['keras-fused:bias', 'keras']", "[]"]


@pytest.mark.slow
def test_an_unknown_fix_is_refused_by_the_real_list_of_fixes(tmp_path):
    from shim import fused

    done = subprocess.run([sys.executable, "bench.py", *SYNTHETIC, "--impl",
                           "keras,keras-fused:bias+bais", "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "'keras-fused:bias+bais'" in line and "'bais'" in line
    assert ", ".join(fused.FIXES) in line and not (tmp_path / "out").exists()
