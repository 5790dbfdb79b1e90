"""Turns (bench.py --method turns): one configuration's round with every arm alive at once,
running one timed epoch each per turn, one arm at a time, in an order shuffled afresh each turn.

Why: rounds of fresh processes pair arms that ran tens of seconds apart, and this machine
wanders on a scale of seconds (docs/methodology.md), so a drift between two cells lands on one
arm and not the other. Turns put the arms' epochs of one turn seconds apart, and the shuffle
spreads what remains (which arm follows which) over all arms, as rounds do for whole cells.

`run_round`:
1. starts every arm's cell process (sweep/turn_arm.py; its hook: cell/turns.py); each loads and
   builds at once, then blocks; then each runs its warm-up epoch (epoch 0) alone, in the order
   started, and blocks before epoch 1 (warm-ups side by side spun their OpenMP teams against
   each other: cell/turns.py);
2. gives T = epochs - 1 turns: in each, every arm in the turn's order runs exactly one epoch,
   and the next arm's turn starts only after the last one's process is blocked again (its work
   between epochs done) or, after its last epoch, has validated, written its result and exited;
3. returns each arm's outcome: its result, its epoch time in each turn, its place in each
   turn's order, and the CPU its process used while the others had their turns (asleep: ~0).

A failure of one arm (its process ended, hung past the deadline, broke the protocol) ends the
configuration's round: the arms still running are stopped, every arm's turns so far are kept in
its outcome, and the failed arm's reason is a failed cell's. An exception from outside (Ctrl-C,
SIGTERM) stops every arm and goes on up: the sweep loses the round in flight, no more.
"""
import random
import time
from dataclasses import dataclass, field

from sweep.turn_arm import ArmFailed, ArmProcess


@dataclass
class Launch:
    """An arm to start: argv(result_path) is its cell command; env its process's settings."""
    name: str
    argv: object
    env: dict


@dataclass
class Outcome:
    """What one arm of a turns round gave."""
    arm: str
    measured: dict = None        # the cell's result columns; None when it did not finish
    reason: str = None           # why not: one line
    warmup_s: float = None       # its warm-up epoch, run alone after every arm's start
    turn_seconds: list = field(default_factory=list)   # its epoch time in each turn it ran
    positions: list = field(default_factory=list)      # its place in each turn's order, from 1
    wait_cpu_s: float = 0.0      # CPU its process used while other arms had their turns
    folder: object = None        # its cell.log and result.json

    @property
    def first_position(self):
        """Its place in the first turn: runs.csv's `order` under turns."""
        return self.positions[0] if self.positions else None


def turn_orders(names, turns, seed):
    """The order of the arms in each of `turns` turns: each shuffled afresh, by a generator
    seeded from `seed` alone (a resumed sweep replays its rounds' orders)."""
    generator = random.Random(seed)
    orders = []
    for _ in range(turns):
        order = list(names)
        generator.shuffle(order)
        orders.append(order)
    return orders


def run_round(launches, epochs, seed, timeout_s, workdir, cwd=None, echo=False):
    """One configuration's round by turns (see the module doc); returns [Outcome], in the
    order of `launches`. timeout_s: a cell's limit; the round gets it once per arm."""
    turns = epochs - 1
    orders = turn_orders([launch.name for launch in launches], turns, seed)
    outcomes = {launch.name: Outcome(launch.name, folder=workdir / launch.name)
                for launch in launches}
    started = {}
    deadline = time.monotonic() + timeout_s * len(launches)
    try:
        for launch in launches:
            started[launch.name] = ArmProcess(launch.name, launch.argv, launch.env,
                                              workdir / launch.name, cwd=cwd, echo=echo)
            started[launch.name].timeout_s = timeout_s * len(launches)
        for arm in started.values():   # load and build, all at once
            arm.expect("ready", 0, deadline)
        for name, arm in started.items():   # the warm-ups, one at a time
            arm.give_turn(0)
            outcomes[name].warmup_s = float(arm.expect("end", 0, deadline)[0])
            if turns:
                arm.expect("ready", 1, deadline)
        for turn, order in enumerate(orders, start=1):
            for position, name in enumerate(order, start=1):
                outcomes[name].positions.append(position)
                take_turn(started, outcomes, name, turn, turn == turns, deadline)
    except ArmFailed as failure:
        end_round(started, outcomes, failure)
    except BaseException:
        for arm in started.values():
            arm.kill()
        raise
    finally:
        for arm in started.values():
            arm.close()
    return [outcomes[launch.name] for launch in launches]


def take_turn(started, outcomes, name, turn, last, deadline):
    """One arm's epoch of one turn, while every other arm waits; after its last epoch, its
    validation and result too. Adds the CPU the waiting arms used meanwhile."""
    arm, waiting = started[name], [a for a in started.values() if a.name != name and a.alive()]
    before = {a.name: a.cpu_seconds() for a in waiting}
    arm.give_turn(turn)
    outcomes[name].turn_seconds.append(float(arm.expect("end", turn, deadline)[0]))
    if last:
        outcomes[name].measured = arm.finish(deadline)
    else:
        arm.expect("ready", turn + 1, deadline)
    for other in waiting:
        now = other.cpu_seconds()
        if now is not None and before[other.name] is not None:
            outcomes[other.name].wait_cpu_s += now - before[other.name]


def end_round(started, outcomes, failure):
    """One arm failed: it is the round's failed cell; the arms that had not finished are
    stopped, each with its turns so far and the reason the round ended."""
    outcomes[failure.arm.name].reason = failure.reason
    for name, arm in started.items():
        if name == failure.arm.name or outcomes[name].measured is not None:
            continue
        arm.kill()
        done = len(outcomes[name].turn_seconds)
        outcomes[name].reason = (f"round ended after {done} turn{'s' * (done != 1)}: "
                                 f"{failure.arm.name} failed")
