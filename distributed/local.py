"""One cell on a parameter-server group of local processes, all on this machine.

    row = distributed.run_cell(cell, workers=2, servers=1, timeout_s=600)

starts a ps-lite group as local processes, each in its own session (process group), all bound to
127.0.0.1 on a free port, configured the way MXNet's launcher configures them (DMLC_* variables):

- the scheduler and M servers: `import mxnet` with DMLC_ROLE=scheduler/server is how MXNet runs
  them (mxnet/kvstore/kvstore_server.py runs the server loop on import, then exits);
- N workers: `python -m cell CELL RESULT` with cell['kvstore'] = 'dist_sync', each writing
  its own result. A worker joins the group (distributed.worker.Worker) and trains its shard of
  every epoch's order.
At the end every worker reports a digest of its parameters, and the row (distributed.rows)
compares them.

A failure (a member exits non-zero or by a signal, or the whole group outlives timeout_s) stops
every process group (SIGTERM, then SIGKILL after GRACE_S) and raises DistributedError, whose
message is one line naming the role, rank and exit status.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shim import exits
from shim.contexts import ContextError, parse

from .rows import aggregate
from .worker import RANK_FILE_ENV, SYNC_KVSTORES

ROOT = Path(__file__).resolve().parents[1]   # the checkout: every member runs there
HARNESS = ["-m", "cell"]   # what a worker runs, in ROOT (also on every host of a launch)
GRACE_S = 5.0      # after SIGTERM, before SIGKILL; also how long servers may take to wind down
POLL_S = 0.1
# What a scheduler or server runs: import mxnet (through the shim, which makes pip's CUDA
# libraries loadable for GPU builds) with DMLC_ROLE set; the import serves until the job ends.
SERVER_CODE = "import shim; shim.import_mxnet()"


class DistributedError(RuntimeError):
    """A failed distributed cell; str() is one line. `.log_tail`: the failing member's output."""

    def __init__(self, reason, log_tail=""):
        super().__init__(reason)
        self.log_tail = log_tail


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Member:
    """One process of the group, in a session (and process group) of its own."""

    def __init__(self, role, index, command, env, log_path, rank_file=None):
        self.role, self.index, self.rank_file = role, index, rank_file
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    @property
    def rank(self):
        """ps-lite assigns worker ranks itself; a worker records its own once it has joined."""
        if self.role != "worker":
            return self.index
        try:
            return int(Path(self.rank_file).read_text())
        except (OSError, ValueError):
            return None

    @property
    def name(self):
        if self.role == "scheduler":
            return "scheduler"
        rank = self.rank
        if rank is None:
            return f"worker process {self.index} (no rank yet)"
        return f"{self.role} {rank}"

    def poll(self):
        return self.process.poll()

    def signal(self, sig):
        try:
            os.killpg(self.process.pid, sig)   # the session's group: the member and any children
        except (ProcessLookupError, PermissionError):
            pass

    def log_tail(self, lines=20):
        try:
            text = Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure_line(self):
        """The harness's own one-line reason ('cell failed: ...'), when it printed one."""
        return exits.failure_line(self.log_tail(200).splitlines()) or ""


def describe_exit(status):
    """'died with exit status 1', 'was killed by SIGKILL (exit status -9)'"""
    if status < 0:
        return f"was {exits.ending(status)} (exit status {status})"
    return f"died with {exits.ending(status)}"


def stop(members, grace_s=GRACE_S):
    """SIGTERM the process group of every member still running, SIGKILL those groups after
    grace_s, and reap them. (Groups whose leader has already been reaped are not signalled: the
    members start no children, and a reaped pid may in principle be reused.)"""
    running = [m for m in members if m.poll() is None]
    for m in running:
        m.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(m.poll() is None for m in running):
        time.sleep(POLL_S)
    for m in running:
        m.signal(signal.SIGKILL)   # the whole group, even if its leader just exited
    for m in running:
        try:
            m.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass


def group_env(port, workers, servers, extra_env=None):
    env = dict(os.environ)
    env.update(extra_env or {})
    env.update({
        "DMLC_PS_ROOT_URI": "127.0.0.1",
        "DMLC_PS_ROOT_PORT": str(port),
        "DMLC_NUM_WORKER": str(workers),
        "DMLC_NUM_SERVER": str(servers),
        "DMLC_NODE_HOST": "127.0.0.1",
        "DMLC_INTERFACE": "lo",
        "PS_VERBOSE": "0",
    })
    return env


def run_cell(cell, workers, servers, timeout_s, *, python=None, env=None, log_dir=None,
             grace_s=GRACE_S):
    """Train `cell` on a local dist_sync group of `workers` workers and `servers` servers.

    cell: cell/harness.py's cell; cell['kvstore'] defaults to 'dist_sync'. Returns the aggregated row
    (distributed.rows); raises DistributedError (one-line message) on any failure, after the
    whole group has been stopped. env: extra environment for every member (OMP_NUM_THREADS...).
    log_dir: keep each member's output there (default: a temporary directory, removed).
    """
    kvstore = cell.get("kvstore") or "dist_sync"
    if kvstore not in SYNC_KVSTORES:
        raise DistributedError(f"kvstore {kvstore!r} is not supported; use one of "
                               f"{', '.join(SYNC_KVSTORES)}")
    if workers < 1 or servers < 1:
        raise DistributedError(f"need at least 1 worker and 1 server, got {workers} and {servers}")
    try:
        devices = parse(cell["ctx"]).devices
    except ContextError as error:
        raise DistributedError(str(error)) from None
    if cell["batch_size"] % (workers * devices):
        raise DistributedError(f"global batch {cell['batch_size']} does not split over "
                               f"{workers} workers x {devices} devices")
    cell = dict(cell, kvstore=kvstore)
    python = python or sys.executable
    keep_logs = log_dir is not None
    directory = Path(log_dir) if keep_logs else Path(tempfile.mkdtemp(prefix="dist-cell-"))
    directory.mkdir(parents=True, exist_ok=True)
    base = group_env(free_port(), workers, servers, env)
    members = []

    def start(role, index, command, rank_file=None):
        member_env = dict(base, DMLC_ROLE=role)
        if rank_file:
            member_env[RANK_FILE_ENV] = str(rank_file)
        members.append(Member(role, index, command, member_env,
                              directory / f"{role}-{index}.log", rank_file))

    try:
        start("scheduler", 0, [python, "-c", SERVER_CODE])
        for i in range(servers):
            start("server", i, [python, "-c", SERVER_CODE])
        results = [directory / f"result-{i}.json" for i in range(workers)]
        for i in range(workers):   # a kept log_dir may hold an earlier run's files
            for stale in (results[i], directory / f"rank-{i}"):
                stale.unlink(missing_ok=True)
        for i in range(workers):
            start("worker", i, [python, *HARNESS, json.dumps(cell),
                                str(results[i])], rank_file=directory / f"rank-{i}")
        wait(members, timeout_s, grace_s)
        rows = []
        for member, path in zip([m for m in members if m.role == "worker"], results):
            try:
                rows.append(json.loads(path.read_text()))
            except (OSError, ValueError) as error:
                raise DistributedError(f"{member.name} exited 0 but left no result "
                                       f"({type(error).__name__})", member.log_tail()) from None
        return aggregate(rows, servers)
    finally:
        stop(members, grace_s)
        if not keep_logs:
            shutil.rmtree(directory, ignore_errors=True)



def wait(members, timeout_s, grace_s):
    """Return when every worker has exited 0 (servers given grace_s to follow); raise on failure."""
    started = time.monotonic()
    workers = [m for m in members if m.role == "worker"]
    while True:
        for m in members:
            status = m.poll()
            if status not in (None, 0):
                reason = f"{m.name} {describe_exit(status)}"
                detail = m.failure_line()
                if detail:
                    reason += f": {detail}"
                stop(members, grace_s)
                raise DistributedError(reason, m.log_tail())
        if all(m.poll() == 0 for m in workers):
            break
        if time.monotonic() - started > timeout_s:
            running = ", ".join(m.name for m in members if m.poll() is None)
            stop(members, grace_s)
            raise DistributedError(f"timed out after {timeout_s:g} s; {running} still running")
        time.sleep(POLL_S)
    # the workers are done: the scheduler and servers end once every worker has finalized
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(m.poll() is None for m in members):
        time.sleep(POLL_S)
    for m in members:
        status = m.poll()
        if status not in (None, 0):
            raise DistributedError(f"{m.name} {describe_exit(status)} after the workers "
                                   f"finished", m.log_tail())
