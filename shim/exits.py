"""Why a child process ended badly, in one line.

A cell's process says why it failed on a line of its own, `cell failed: REASON` (harness.py,
distributed.watchdog); otherwise its exit status, or the signal that killed it, and the last
line it wrote are all there is. bench.py's cells, distributed's group members and shim.launch's
roles are explained by these functions, each caller adding what only it knows (a member's
name, ssh's exit status 255).

Needs nothing but the standard library, so that any layer may import it.
"""
import signal

FAILED = "cell failed:"   # the start of the line in which a cell's process says why it failed


def failure_line(lines):
    """The last `cell failed: ...` line of `lines`, whole, or None."""
    for line in reversed(lines):
        if line.startswith(FAILED):
            return line
    return None


def signal_name(number):
    """'SIGKILL' for 9, or None for a number that is no signal here."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


def ending(status):
    """How a process ended, from its exit status as subprocess reports it: 'exit status 1', or
    'killed by SIGKILL' for -9."""
    if status < 0:
        return f"killed by {signal_name(-status) or f'signal {-status}'}"
    return f"exit status {status}"


def explain(status, lines):
    """One line on a process that ended with `status` after writing `lines`: the reason it gave
    on its last `cell failed:` line, else how it ended and its last non-blank line."""
    said = failure_line(lines)
    if said is not None:
        return said[len(FAILED):].strip()
    written = [line.strip() for line in lines if line.strip()]
    return ending(status) + (f": {written[-1]}" if written else "")
