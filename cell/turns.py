"""The arm's side of turns (bench.py --method turns): wait for a turn before an epoch, report it
after, so that the arms of a configuration, all alive at once, run their timed epochs one at a
time in the order the driver (sweep/turns.py) shuffles for each turn.

One thing in the implementations' contract: `current()` is this process's hook, and every
training loop calls it where it already times its epochs,

    turn.begin(epoch)             before the epoch's device sync and clock start
    turn.end(epoch, seconds)      after the clock stops, with the epoch's wall time

Outside turns (rounds of fresh processes, a distributed cell, a test calling `train`) it is
`NoTurns`, which does nothing, so each side's loop reads and runs as it did.

The driver passes two pipes to the cell process and names their file descriptors in the
environment, TURNS_VARIABLE="READ,WRITE". Lines on them:

    arm -> driver   'end E S'    epoch E took S seconds (E = 0: the warm-up is done)
                    'ready E'    at the start of epoch E: blocked until its turn
    driver -> arm   'go E'       epoch E may run now

The arms load and build side by side (Python, one thread each), and then wait for the warm-up
too (epoch 0, turn 0, in the order they were started): warmed up side by side, 4 arms of 2
OpenMP threads each on 2 cores spun against each other, and the CNN-LSTM's warm-ups took 12-21 s
where alone they take 1-5 s (docs/methodology.md), which made a sweep by turns slower than one
by rounds. After an arm's 'end E' the driver waits for its next line ('ready E+1', or
the end of the pipe when the process exits after its validation) before it gives another arm a
turn, so the work between epochs (the next epoch's order, `fit`'s set-up) and the validation
run alone too.

Waiting is a blocking read(2): the thread sleeps in the kernel and costs no CPU. The framework's
own threads are asleep by then as well (measured: tests/test_turns_idle.py, docs/methodology.md).
"""
import os
import sys

TURNS_VARIABLE = "KERAS_MXNET_BENCH_TURNS"
ORPHANED_EXIT = 75   # the driver is gone (the sweep was killed): stop at once, cores back


class TurnsError(RuntimeError):
    """The driver said something out of protocol: a bug, never a measurement to keep."""


class NoTurns:
    """The hook outside turns: every epoch runs when the loop gets to it."""

    def begin(self, epoch):
        pass

    def end(self, epoch, seconds):
        pass


class Turns:
    """The hook under turns, over the driver's pipes (see the module doc)."""

    def __init__(self, read_fd, write_fd):
        # Text files over the raw pipes; the driver writes one line and then waits for ours,
        # so nothing is ever read ahead of a turn.
        self._from_driver = os.fdopen(read_fd, "r", buffering=1)
        self._to_driver = os.fdopen(write_fd, "w", buffering=1)

    def begin(self, epoch):
        self._send(f"ready {epoch}")
        line = self._from_driver.readline()   # blocks, asleep, until the driver's turn
        if not line:
            orphaned()
        if line.split() != ["go", str(epoch)]:
            raise TurnsError(f"waiting for the turn of epoch {epoch}, the driver said {line!r}")

    def end(self, epoch, seconds):
        self._send(f"end {epoch} {seconds!r}")

    def _send(self, line):
        try:
            self._to_driver.write(line + "\n")
            self._to_driver.flush()
        except BrokenPipeError:
            orphaned()


def orphaned():
    """The driver closed its end: the sweep stopped. Exit without unwinding the frameworks,
    whose threads could otherwise keep a core busy after the sweep is gone."""
    print("cell stopped: the turns driver is gone", file=sys.stderr, flush=True)
    os._exit(ORPHANED_EXIT)


def from_environment(environ=os.environ):
    """The hook that the environment asks for: Turns over the named pipes, else NoTurns."""
    value = environ.get(TURNS_VARIABLE, "").strip()
    if not value:
        return NoTurns()
    try:
        read_fd, write_fd = (int(part) for part in value.split(","))
    except ValueError:
        raise TurnsError(f"{TURNS_VARIABLE}={value!r}: expected READ_FD,WRITE_FD") from None
    return Turns(read_fd, write_fd)


_current = None


def current():
    """This process's hook, made once: a process is in turns or not for its whole life."""
    global _current
    if _current is None:
        _current = from_environment()
    return _current
