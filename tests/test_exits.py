"""shim/exits.py: the one-line explanation of a child process's end, and its three users' words
for it (bench.py's cells, distributed's group members, shim.launch's roles)."""
import pytest

from distributed import local
from shim import exits
from shim.launch import Member

TRACEBACK = ["Using MXNet backend", "Traceback (most recent call last):", '  File "x.py"',
             "ValueError: bad", ""]


@pytest.mark.parametrize("status, lines, says", [
    (1, TRACEBACK + ["cell failed: ValueError: bad", "  "], "ValueError: bad"),
    (1, ["cell failed: first", "cell failed: second", "later noise"], "second"),
    (1, TRACEBACK, "exit status 1: ValueError: bad"),
    (-9, TRACEBACK, "killed by SIGKILL: ValueError: bad"),
    (-9, [], "killed by SIGKILL"),
    (-99, ["  last words  "], "killed by signal 99: last words"),   # no such signal: no crash
    (3, ["", "   "], "exit status 3"),
])
def test_explain(status, lines, says):
    assert exits.explain(status, lines) == says


def test_a_group_member_is_named_with_how_it_ended():
    assert local.describe_exit(1) == "died with exit status 1"
    assert local.describe_exit(-9) == "was killed by SIGKILL (exit status -9)"
    assert local.describe_exit(-99) == "was killed by signal 99 (exit status -99)"


@pytest.mark.parametrize("status, tail, says", [
    (1, ["noise", "cell failed: RuntimeError: the scheduler gave up"],
     "RuntimeError: the scheduler gave up"),
    (255, ["Timeout, server 10.213.0.3 not responding."],
     "Timeout, server 10.213.0.3 not responding."),
    (255, ["Connection to 10.213.0.3 closed."], "ssh ended with exit status 255 (the connection "
     "was lost, or the role was killed by a signal)"),
    (143, ["training"], "killed by SIGTERM (exit status 143)"),   # a shell's 128 + signal
    (200, ["training", ""], "exit status 200: training"),           # 72 is no signal
    (2, [], "exit status 2"),
    (-15, ["training"], "killed by SIGTERM: training"),
])
def test_a_launched_role_is_explained_in_ssh_and_shell_terms(status, tail, says):
    member = Member("worker", "10.213.0.3", process=None)   # what_happened reads only its tail
    member.tail = tail
    assert member.what_happened(status) == says
