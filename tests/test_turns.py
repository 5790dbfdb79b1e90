"""The turn protocol (sweep/turns.py driving cell/turns.py), shown with a fake harness
(tests/fake_turns_arm.py): no ML, and no assertion on how long anything takes."""
import json
import math
import os
import sys
import time
from pathlib import Path

import pytest

from report.ratios import round_ratio, turn_ratios, turn_spread
from report.storage import join_times, turn_times
from sweep import turns
from sweep.turn_arm import ArmProcess

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fake_turns_arm.py"
SECONDS = {"a": [9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
           "b": [9.0, 2.0, 2.0, 1.5, 8.0, 5.0, 3.0, 7.0],
           "c": [9.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]}


def launches(tmp_path, epochs, names=("a", "b", "c"), **per_arm):
    """Fake arms; per_arm: {name: {cell key: value}} (die_at, hang_at)."""
    found = []
    for name in names:
        cell = {"arm": name, "epochs": epochs, "seconds": SECONDS[name] * 2,
                "stamps": str(tmp_path / "stamps.txt"), **per_arm.get(name, {})}
        found.append(turns.Launch(name, lambda result, cell=cell: [sys.executable, str(FAKE),
                                                                   json.dumps(cell), str(result)],
                                  dict(os.environ, PYTHONPATH=str(ROOT))))
    return found


def stamps(tmp_path):
    """[(arm, epoch, start, end)] as the fake arms recorded them, in the order they ran."""
    rows = [line.split() for line in (tmp_path / "stamps.txt").read_text().splitlines()]
    return sorted(((arm, int(epoch), float(start), float(end)) for arm, epoch, start, end in rows),
                  key=lambda stamp: stamp[2])


def run(tmp_path, epochs, seed="7-1-lenet", timeout_s=60, **per_arm):
    return turns.run_round(launches(tmp_path, epochs, **per_arm), epochs, seed, timeout_s,
                           tmp_path / "work")


def test_every_arm_gets_exactly_t_turns_and_finishes(tmp_path):
    outcomes = run(tmp_path, epochs=6)
    assert [o.arm for o in outcomes] == ["a", "b", "c"]
    for outcome in outcomes:
        assert outcome.reason is None
        assert outcome.turn_seconds == SECONDS[outcome.arm][1:6]   # T = epochs - 1 = 5
        assert outcome.warmup_s == 9.0
        assert outcome.measured == {"arm": outcome.arm, "epoch_s_timed": SECONDS[outcome.arm][1:6]}
        assert len(outcome.positions) == 5 and outcome.first_position == outcome.positions[0]
        assert outcome.wait_cpu_s <= 0.05   # asleep while the others had their turns
    ran = stamps(tmp_path)
    for name in "abc":
        assert sorted(epoch for arm, epoch, _, _ in ran if arm == name) == [0, 1, 2, 3, 4, 5]


def test_only_one_arm_runs_at_any_time(tmp_path):
    run(tmp_path, epochs=6)
    ran = sorted(stamps(tmp_path), key=lambda stamp: stamp[2])   # the warm-ups too
    for earlier, later in zip(ran, ran[1:]):
        assert earlier[3] <= later[2], f"{earlier} overlaps {later}"
    # the warm-ups first, in the order the arms were started, then the turns
    assert [(arm, epoch) for arm, epoch, _, _ in ran[:3]] == [("a", 0), ("b", 0), ("c", 0)]


def test_the_order_is_shuffled_per_turn_and_as_planned(tmp_path):
    outcomes = run(tmp_path, epochs=13)
    assert all(o.reason is None for o in outcomes)
    planned = turns.turn_orders(["a", "b", "c"], 12, "7-1-lenet")
    assert planned == turns.turn_orders(["a", "b", "c"], 12, "7-1-lenet")   # replayed on resume
    assert planned != turns.turn_orders(["a", "b", "c"], 12, "7-2-lenet")   # another round
    assert len({tuple(order) for order in planned}) > 1
    assert {order[0] for order in planned} == {"a", "b", "c"}   # every arm first sometimes
    for outcome in outcomes:
        assert outcome.positions == [order.index(outcome.arm) + 1 for order in planned]
    ran = [arm for arm, epoch, _, _ in stamps(tmp_path) if epoch >= 1]
    assert ran == [arm for order in planned for arm in order]


def test_one_arm_dying_ends_the_round_and_keeps_every_turn_taken(tmp_path):
    outcomes = {o.arm: o for o in run(tmp_path, epochs=6, b={"die_at": 3})}
    assert outcomes["b"].reason == "RuntimeError: b died in epoch 3"
    assert outcomes["b"].measured is None and outcomes["b"].turn_seconds == SECONDS["b"][1:3]
    planned = turns.turn_orders(["a", "b", "c"], 5, "7-1-lenet")
    for name in "ac":   # the others: stopped, their turns up to b's death kept
        before = planned[2].index(name) < planned[2].index("b")
        taken = 3 if before else 2
        assert outcomes[name].turn_seconds == SECONDS[name][1:1 + taken]
        assert outcomes[name].measured is None
        assert outcomes[name].reason == f"round ended after {taken} turns: b failed"
    assert "b died" in (outcomes["b"].folder / "cell.log").read_text()
    ran = stamps(tmp_path)
    assert not [s for s in ran if s[1] > 3]   # nothing ran after the round ended


def test_an_arm_dying_in_its_warm_up_ends_the_round_before_any_turn(tmp_path):
    outcomes = {o.arm: o for o in run(tmp_path, epochs=4, c={"die_at": 0})}
    assert outcomes["c"].reason.startswith("RuntimeError: c died")
    assert all(o.turn_seconds == [] and o.measured is None for o in outcomes.values())
    assert outcomes["a"].reason == "round ended after 0 turns: c failed"


def test_a_hung_arm_times_out_and_ends_the_round(tmp_path):
    outcomes = {o.arm: o for o in run(tmp_path, epochs=4, timeout_s=1,
                                      names=("a", "c"), a={"hang_at": 2})}
    assert outcomes["a"].reason == "timed out after 2 s"
    assert outcomes["c"].reason.startswith("round ended after")


def test_the_last_arm_dying_after_its_last_turn_keeps_the_finished_arms(tmp_path):
    """An arm that finished (validated, wrote its result) before another failed stays ok."""
    planned = turns.turn_orders(["a", "c"], 2, "7-1-lenet")
    first, second = planned[-1]
    outcomes = {o.arm: o for o in run(tmp_path, epochs=3, names=("a", "c"),
                                      **{second: {"die_at": 2}})}
    assert outcomes[first].reason is None and outcomes[first].measured is not None
    assert outcomes[second].reason.startswith("RuntimeError")


def test_a_stopped_sweep_stops_every_arm(tmp_path):
    """Ctrl-C or SIGTERM while a round starts: the arms already started are killed."""
    started = []

    def interrupted(result):
        raise KeyboardInterrupt

    arms = launches(tmp_path, epochs=3, names=("a", "b"))
    for launch in arms:
        original = launch.argv
        launch.argv = lambda result, original=original: started.append(1) or original(result)
    arms.append(turns.Launch("c", interrupted, dict(os.environ, PYTHONPATH=str(ROOT))))
    pids = []
    real_init = ArmProcess.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        pids.append(self.process)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ArmProcess, "__init__", spy)
        with pytest.raises(KeyboardInterrupt):
            turns.run_round(arms, 3, "s", 60, tmp_path / "work")
    assert len(pids) == 2 and all(p.poll() is not None for p in pids)


def test_an_arm_whose_driver_is_gone_exits_at_once(tmp_path):
    """A killed sweep leaves no arm behind: at the end of its pipe a waiting arm exits."""
    launch = launches(tmp_path, epochs=3, names=("a",))[0]
    arm = ArmProcess("a", launch.argv, launch.env, tmp_path / "a")
    arm.expect("ready", 0, time.monotonic() + 60)
    arm.give_turn(0)
    arm.expect("end", 0, time.monotonic() + 60)
    arm.expect("ready", 1, time.monotonic() + 60)
    arm.close()   # the driver's ends of the pipes, as when its process dies
    assert arm.process.wait(timeout=30) == 75


def test_per_turn_ratios_and_the_rounds_geometric_mean_from_the_fake_harness(tmp_path):
    outcomes = {o.arm: o for o in run(tmp_path, epochs=8, names=("a", "b"))}
    rows = {name: {"epoch_s_turns": join_times(o.turn_seconds), "epoch_s_median": 99.0}
            for name, o in outcomes.items()}   # as runs.csv holds them
    a, b = turn_times(rows["a"]), turn_times(rows["b"])
    assert a == SECONDS["a"][1:] and b == SECONDS["b"][1:]
    ratios, mean = turn_ratios(a, b)
    assert ratios == pytest.approx([0.5, 1.0, 2.0, 0.5, 1.0, 2.0, 1.0])
    assert mean == pytest.approx(1.0)   # the logs cancel: log 0.5 + log 2 = 0
    assert round_ratio(rows["a"], rows["b"]) == pytest.approx(1.0)
    assert turn_spread(ratios) == pytest.approx(math.exp(math.sqrt(4 * math.log(2) ** 2 / 6)) - 1)


def test_a_round_of_rounds_rows_keeps_the_median_ratio():
    assert round_ratio({"epoch_s_median": 3.0}, {"epoch_s_median": 2.0}) == 1.5
    assert turn_times({"epoch_s_turns": ""}) is None
    with pytest.raises(ValueError):
        turn_ratios([1.0, 2.0], [1.0])
