"""bench.py --method turns end to end, on a fake harness that speaks the turn protocol
(cell/turns.py) and trains nothing: the rows it writes, the ratios the report takes from them,
a crash in a round, and --method rounds beside it, kept apart. No assertion on any speed."""
import math

import pytest

import bench
from report import storage
from report.ratios import turn_ratios
from sweep import plan, process, turns
from sweep.turn_rows import turns_seed
from tests.helpers import fake_harness, read_csv

SWEEP = ["--scenario", "lenet", "--data", "synthetic", "--max-samples", "64", "--epochs", "4",
         "--batch-sizes", "32", "--quiet", "--impl", "keras,gluon", "--control"]
# Each arm's epoch times, the warm-up first; keras's turns differ, so a turns ratio is not the
# ratio of medians.
SECONDS = {"keras": [9.0, 2.0, 3.0, 1.5], "gluon": [9.0, 1.0, 1.0, 1.0],
           "gluon-control": [9.0, 1.0, 1.0, 1.0]}


def turns_harness(tmp_path, die=None):
    """A fake harness under the hook; die=(arm, round, epoch): that arm's process fails there."""
    return fake_harness(tmp_path, f"""
        from cell import turns
        seconds = {SECONDS!r}[cell["arm"]]
        hook = turns.current()   # NoTurns under --method rounds: the same fake serves both
        for epoch in range(cell["epochs"]):
            hook.begin(epoch)
            if (cell["arm"], cell["round"], epoch) == {die!r}:
                print("cell failed: RuntimeError: died", file=sys.stderr)
                sys.exit(1)
            hook.end(epoch, seconds[epoch])
        timed = seconds[1:]
        """)


def sweep(monkeypatch, tmp_path, harness, *args):
    monkeypatch.setattr(process, "HARNESS", harness)
    out = tmp_path / "out"
    assert bench.main(SWEEP + ["--out", str(out), *args]) == 0
    return read_csv(out / "runs.csv"), read_csv(out / "ratios.csv")


@pytest.mark.usefixtures("project_importable")
def test_a_turns_sweep_writes_each_arms_turns_and_its_first_place(monkeypatch, tmp_path):
    rows, table = sweep(monkeypatch, tmp_path, turns_harness(tmp_path), "--rounds", "2")
    assert len(rows) == 6 and {r["status"] for r in rows} == {"ok"}
    assert {r["method"] for r in rows} == {str(storage.TURNS_METHOD)}
    for r in rows:
        assert [float(t) for t in r["epoch_s_turns"].split(";")] == SECONDS[r["arm"]][1:]
    args = validated(SWEEP)
    config = plan.configurations(args)[0]
    for n in (1, 2):   # order: each arm's place in its round's first turn, as planned
        names = [c["arm"] for c in plan.round_cells(args, config, n)]
        first = turns.turn_orders(names, 3, turns_seed(args, n, plan.configuration_name(config)))[0]
        assert {r["arm"]: int(r["order"]) for r in rows if r["round"] == str(n)} == \
            {arm: first.index(arm) + 1 for arm in names}
    keras = next(r for r in table if (r["numerator"], r["denominator"]) == ("keras", "gluon"))
    _, per_round = turn_ratios(SECONDS["keras"][1:], SECONDS["gluon"][1:])
    assert keras["method"] == "turns" and float(keras["ratio"]) == pytest.approx(per_round, 1e-3)
    assert per_round == pytest.approx(9.0 ** (1 / 3)) and per_round != 2.0   # not the medians
    assert float(keras["turn_spread"]) > 0


def validated(argv):
    from sweep.args import validate

    args = bench.parser().parse_args(argv)
    validate(args)
    return args


@pytest.mark.usefixtures("project_importable")
def test_one_arm_dying_ends_its_round_and_loses_nothing_written(monkeypatch, tmp_path):
    rows, _ = sweep(monkeypatch, tmp_path, turns_harness(tmp_path, die=("keras", 2, 2)),
                    "--rounds", "3")
    by_round = {n: {r["arm"]: r for r in rows if r["round"] == n} for n in ("1", "2", "3")}
    assert all(r["status"] == "ok" for n in ("1", "3") for r in by_round[n].values())
    failed = by_round["2"]
    assert failed["keras"]["status"] == "failed"
    assert failed["keras"]["reason"].startswith("RuntimeError: died")
    assert failed["keras"]["epoch_s_turns"] == "2"   # its first turn, kept
    for arm in ("gluon", "gluon-control"):
        assert failed[arm]["status"] == "failed"
        assert "keras failed" in failed[arm]["reason"]
        assert failed[arm]["epoch_s_turns"] in ("1", "1;1")   # its turns before the round ended
    assert (tmp_path / "out" / "logs").is_dir()


@pytest.mark.usefixtures("project_importable")
def test_rounds_rows_beside_turns_rows_are_kept_apart(monkeypatch, tmp_path):
    """--method turns,rounds: every configuration by both methods in one sweep; the report
    takes a ratio of each, never one of both."""
    rows, table = sweep(monkeypatch, tmp_path, turns_harness(tmp_path), "--rounds", "2",
                        "--method", "turns,rounds")
    assert len(rows) == 12 and {r["status"] for r in rows} == {"ok"}
    by_rounds = [r for r in rows if r["method"] == str(storage.METHOD)]
    assert len(by_rounds) == 6 and not any(r["epoch_s_turns"] for r in by_rounds)
    pairs = [(r["numerator"], r["denominator"], r["method"]) for r in table]
    assert sorted(pairs) == sorted([("keras", "gluon", "rounds"), ("keras", "gluon", "turns"),
                                    ("gluon-control", "gluon", "rounds"),
                                    ("gluon-control", "gluon", "turns")])
    ratio = {r["method"]: float(r["ratio"]) for r in table if r["numerator"] == "keras"}
    assert ratio["rounds"] == pytest.approx(2.0)   # the medians' ratio, as before turns
    assert ratio["turns"] == pytest.approx(math.exp(sum(map(math.log, (2.0, 3.0, 1.5))) / 3), 1e-3)
    assert all(r["rounds"] == "2" for r in table)   # no pooling: 2 rounds each, not 4
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "by turns" in summary


@pytest.mark.usefixtures("project_importable")
def test_method_rounds_alone_writes_rounds_rows(monkeypatch, tmp_path):
    rows, table = sweep(monkeypatch, tmp_path, turns_harness(tmp_path), "--method", "rounds")
    assert {r["method"] for r in rows} == {str(storage.METHOD)}
    assert {r["method"] for r in table} == {"rounds"}


def test_dist_sync_keeps_rounds_and_refuses_turns():
    from sweep.args import UsageError

    assert validated(SWEEP).method == ["turns"]
    assert validated(SWEEP + ["--kvstore", "dist_sync"]).method == ["rounds"]
    with pytest.raises(UsageError):
        validated(SWEEP + ["--kvstore", "dist_sync", "--method", "turns"])


@pytest.mark.usefixtures("project_importable")
def test_adaptive_rounds_and_resume_run_by_turns(monkeypatch, tmp_path):
    """--target-ci keys a turns configuration as the report does (its CI is 0 here: it stops at
    3 rounds); --resume continues a turns sweep without running its rounds again."""
    rows, table = sweep(monkeypatch, tmp_path, turns_harness(tmp_path), "--target-ci", "0.05",
                        "--max-rounds", "5")
    assert sorted({r["round"] for r in rows}) == ["1", "2", "3"]
    assert {r["rounds"] for r in table} == {"3"}
    out = tmp_path / "out"
    assert bench.main(SWEEP + ["--out", str(out), "--rounds", "4", "--resume"]) == 0
    again = read_csv(out / "runs.csv")
    assert len(again) == 12 and [r["round"] for r in again[9:]] == ["4"] * 3
