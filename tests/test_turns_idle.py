"""A real MXNet (and PyTorch, where installed) process waiting for its turn is idle: every thread
of it, the OpenMP team and MXNet's engine threads included, uses no CPU across the wait.

The arm (tests/turns_idle_arm.py) runs a few operators on every core as its warm-up, asks for
the turn of epoch 1, and blocks in cell.turns; the test reads the CPU time of each of its threads
(/proc/PID/task/*/stat, utime + stime) as the wait begins and after it. libgomp spins a while
after a parallel region before it sleeps (GOMP_SPINCOUNT); a spin that outlived the wait would
show here. Not a timing of anything: the assertion is that the wait costs (next to) nothing.
"""
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cell import turns

# the machine to itself (pytest.ini: serial)
pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 2.0
# /proc counts CPU time in clock ticks (10 ms): a thread that woke once for a tick's worth
# could show one; a spinning team would show the whole wait on each of its threads.
IDLE_LIMIT_S = 0.03


def thread_cpu(pid):
    """{thread id: (name, CPU seconds)} of every thread of a process, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:   # the thread ended between the listing and the read
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        found[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return found


def spent(before, after):
    """CPU seconds each thread spent between two readings (threads born since start at 0)."""
    return {tid: (name, round(cpu - before.get(tid, (name, 0.0))[1], 3))
            for tid, (name, cpu) in after.items()}


def wait_in_turns(framework, env=None):
    """Start tests/turns_idle_arm.py, let it warm up and block for its turn; returns the
    per-thread CPU seconds it spent across WAIT_S of waiting."""
    go_read, go_write = os.pipe()
    report_read, report_write = os.pipe()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "turns_idle_arm.py"), framework], cwd=ROOT,
        pass_fds=(go_read, report_write),
        env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT),
             turns.TURNS_VARIABLE: f"{go_read},{report_write}"})
    os.close(go_read)
    os.close(report_write)
    to_arm, from_arm = os.fdopen(go_write, "w", buffering=1), os.fdopen(report_read, "r")
    try:
        assert from_arm.readline().split() == ["ready", "0"]
        to_arm.write("go 0\n")
        to_arm.flush()
        assert from_arm.readline().split()[:2] == ["end", "0"]
        assert from_arm.readline().split() == ["ready", "1"]
        before = thread_cpu(process.pid)
        time.sleep(WAIT_S)
        after = thread_cpu(process.pid)
        to_arm.write("go 1\n")
        to_arm.flush()
        assert from_arm.readline().split()[:2] == ["end", "1"]
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return spent(before, after)


def test_a_waiting_mxnet_arm_is_idle():
    threads = wait_in_turns("mxnet", env={"OMP_NUM_THREADS": str(os.cpu_count())})
    print(f"\nmxnet: CPU seconds over {WAIT_S} s of waiting, per thread: {threads}")
    assert len(threads) > 2   # the engine's and the OpenMP team's threads were there to check
    assert sum(cpu for _, cpu in threads.values()) <= IDLE_LIMIT_S, threads


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_a_waiting_torch_arm_is_idle():
    threads = wait_in_turns("torch", env={"OMP_NUM_THREADS": str(os.cpu_count())})
    print(f"\ntorch: CPU seconds over {WAIT_S} s of waiting, per thread: {threads}")
    assert sum(cpu for _, cpu in threads.values()) <= IDLE_LIMIT_S, threads
