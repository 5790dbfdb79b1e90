"""MXNet's own cluster launcher on Python 3.9+: `python -m shim.launch [launch.py arguments]`.

The mxnet 1.9.1 wheel ships the launcher (mxnet/tools/launch.py) and the dmlc_tracker package it
drives (site-packages/dmlc_tracker: local, ssh, mpi, sge, yarn submitters). The tracker waits on
its threads with `Thread.isAlive()`, removed in Python 3.9, so every launch ends in
AttributeError once the jobs are submitted. This module restores the alias and runs the bundled
launch.py unchanged, with the same arguments, plus one of its own, `--host-ip ADDR`:

    python -m shim.launch -n 2 -s 1 -H hosts --launcher ssh --host-ip 10.0.0.1 \\
        /path/to/repo/.venv/bin/python harness.py @cell.json 'result-{rank}.json'
    python -m shim.launch -n 2 -s 1 --launcher local python harness.py @cell.json 'result-{rank}.json'

The launcher runs the same command for the scheduler, the servers and the workers (DMLC_ROLE
tells them apart); harness.py serves as a scheduler or server when DMLC_ROLE says so. Neither
mxnet nor keras is imported here.

The roles are supervised (`Group`; with `--launcher ssh` or `local`): ssh gets a terminal (-tt,
so a role dies with its connection), keep-alives (a host that stops answering ends its ssh in
15-20 s) and BatchMode (no password prompt); the first role to fail stops every other and the
launch, with one line such as

    shim.launch: worker on host 10.213.0.3 failed: Timeout, server 10.213.0.3 not responding.

(exit status 1). A role on a host that lost its network cannot be told; it stops itself
(distributed.watch_group, in distributed/watchdog.py). `--host-ip` is the address the scheduler
binds and every role contacts: the launcher's own guess (the address this host's name resolves
to, else a route towards 10.255.255.255) is wrong on hosts with several interfaces and fails
where there is none.
"""
import argparse
import importlib.util
import os
import re
import runpy
import signal
import subprocess
import sys
import threading
import time

from shim import exits

# ssh's own bounds, added to the launcher's `ssh -o StrictHostKeyChecking=no HOST -p PORT '...'`:
# a host that answers no keep-alive for SSH_ALIVE_S x SSH_ALIVE_COUNT (15-20 s) ends its ssh
SSH_ALIVE_S, SSH_ALIVE_COUNT = 5, 3
SSH_OPTIONS = ["-tt", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
               "-o", f"ServerAliveInterval={SSH_ALIVE_S}",
               "-o", f"ServerAliveCountMax={SSH_ALIVE_COUNT}"]
STOP_GRACE_S = 5.0              # after SIGTERM, before SIGKILL
END_GRACE_S = 30.0              # how long the others may take to end after the scheduler did
ROLE_COMMAND = re.compile(r"ssh -o StrictHostKeyChecking=no (?P<host>\S+) -p (?P<port>\d+) '")
ROLE_IN_COMMAND = re.compile(r"export DMLC_ROLE=(\w+);")


def launcher_path():
    """mxnet/tools/launch.py of the installed mxnet, found without importing mxnet."""
    spec = importlib.util.find_spec("mxnet")
    if spec is None or not spec.origin:
        raise SystemExit("shim.launch: mxnet is not installed")
    path = os.path.join(os.path.dirname(spec.origin), "tools", "launch.py")
    if not os.path.isfile(path):
        raise SystemExit(f"shim.launch: this mxnet has no launcher at {path}")
    if importlib.util.find_spec("dmlc_tracker") is None:
        raise SystemExit("shim.launch: the dmlc_tracker package (shipped with the mxnet wheel) "
                         "is missing")
    return path


def patch_threading():
    """Python 3.9 removed Thread.isAlive; dmlc_tracker.tracker still calls it."""
    if not hasattr(threading.Thread, "isAlive"):
        threading.Thread.isAlive = threading.Thread.is_alive


class Member:
    """One role the launcher started: the scheduler here, a server or worker through ssh (or
    here, with --launcher local)."""

    def __init__(self, role, host, process):
        self.role, self.host, self.process = role, host, process
        self.tail = []

    def signal(self, sig):
        try:
            os.killpg(self.process.pid, sig)   # its own session: the shell, ssh and children
        except (ProcessLookupError, PermissionError):
            pass

    def what_happened(self, status):
        """The role's own one-line reason when it gave one, else ssh's or the exit status."""
        lines = [line for line in self.tail if line.strip()]
        if exits.failure_line(lines) is None:
            if status == 255:   # ssh's own exit status
                if lines and not lines[-1].startswith("Connection to "):
                    return lines[-1]   # e.g. 'Timeout, server HOST not responding.'
                return "ssh ended with exit status 255 (the connection was lost, or the role " \
                       "was killed by a signal)"
            # a role runs in a shell, which reports its child killed by signal N as 128 + N
            name = exits.signal_name(status - 128) if status > 128 else None
            if name:
                return f"killed by {name} (exit status {status})"
        return exits.explain(status, lines)


class Group:
    """Stands in for the `subprocess` module of dmlc_tracker.ssh, .local and .tracker: their
    check_call or call of a role runs it supervised; anything else (rsync) passes through."""

    def __init__(self):
        self.members = []
        self.lock = threading.Lock()
        self.failure = None

    def __getattr__(self, name):
        return getattr(subprocess, name)

    def call(self, command, shell=False, env=None, **kwargs):
        """dmlc_tracker.local's way to start a role (it would retry a failed one)."""
        return self.check_call(command, shell=shell, env=env, passthrough=subprocess.call,
                               **kwargs)

    def check_call(self, command, shell=False, env=None, passthrough=subprocess.check_call,
                   **kwargs):
        role, host = self.describe(command, env)
        if role is None:
            return passthrough(command, shell=shell, env=env, **kwargs)
        if command.startswith("ssh "):
            command = "ssh " + " ".join(SSH_OPTIONS) + command[3:]
        process = subprocess.Popen(command, shell=True, env=env,
                                   executable=kwargs.get("executable"),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        member = Member(role, host, process)
        with self.lock:
            self.members.append(member)
            if self.failure:
                member.signal(signal.SIGKILL)
        for raw in process.stdout:   # a terminal's lines end in \r\n
            line = raw.decode(errors="replace").rstrip("\r\n")
            member.tail = (member.tail + [line])[-50:]
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        status = process.wait()
        if status != 0:
            self.fail(f"{role} on host {host} failed: {member.what_happened(status)}")
        return 0

    @staticmethod
    def describe(command, env):
        """(role, host) of a launcher's command for a role, else (None, None)."""
        if env and env.get("DMLC_ROLE") == "scheduler":
            return "scheduler", env.get("DMLC_PS_ROOT_URI", "this host")
        if env and env.get("DMLC_ROLE"):   # --launcher local
            return env["DMLC_ROLE"], env.get("DMLC_NODE_HOST", "this host")
        if isinstance(command, str):
            ssh, role = ROLE_COMMAND.match(command), ROLE_IN_COMMAND.search(command)
            if ssh and role:
                return role.group(1), ssh.group("host")
        return None, None

    def fail(self, reason):
        """The first failure: one line, stop the group, end the launch (exit status 1)."""
        with self.lock:
            if self.failure:
                return
            self.failure = reason
        print(f"shim.launch: {reason}", file=sys.stderr, flush=True)
        self.stop()
        sys.stdout.flush()
        os._exit(1)

    def stop(self):
        """SIGTERM every role still running (ssh then hangs up its terminal: the remote role gets
        SIGHUP), SIGKILL after STOP_GRACE_S."""
        with self.lock:
            running = [m for m in self.members if m.process.poll() is None]
        for m in running:
            m.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and any(m.process.poll() is None for m in running):
            time.sleep(0.1)
        for m in running:
            m.signal(signal.SIGKILL)

    def wait_for_the_rest(self):
        """After the scheduler ended: the others end with it (the workers have finalized)."""
        deadline = time.monotonic() + END_GRACE_S
        while time.monotonic() < deadline:
            with self.lock:
                running = [m for m in self.members if m.process.poll() is None]
            if not running:
                return
            time.sleep(0.1)
        names = ", ".join(f"{m.role} on host {m.host}" for m in running)
        self.fail(f"{names} still running {END_GRACE_S:g} s after the scheduler ended")


def take_host_ip(argv):
    """Split our `--host-ip ADDR` off launch.py's arguments: (ADDR or None, the rest)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--host-ip")
    ours, rest = parser.parse_known_args(argv)
    return ours.host_ip, rest


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    host_ip, argv = take_host_ip(argv)
    path = launcher_path()
    patch_threading()
    from dmlc_tracker import local, ssh, tracker

    if host_ip:
        tracker.get_host_ip = lambda _guess=None: host_ip
    group = Group()
    ssh.subprocess = tracker.subprocess = local.subprocess = group
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: group.fail(
            f"the launch itself got {signal.Signals(number).name}"))
    sys.argv = [path] + argv
    try:
        runpy.run_path(path, run_name="__main__")
    except BaseException:
        group.stop()
        raise
    group.wait_for_the_rest()
    if group.failure:   # a role failed while this thread was returning
        time.sleep(STOP_GRACE_S + 1)
        sys.exit(1)


if __name__ == "__main__":
    main()
