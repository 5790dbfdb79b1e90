"""One cell on MXNet's own parameter server: kvstore 'dist_sync' (ps-lite), all on this machine.

    row = distributed.run_cell(cell, workers=2, servers=1, timeout_s=600)

starts a ps-lite group as local processes, each in its own session (process group), all bound to
127.0.0.1 on a free port, configured the way MXNet's launcher configures them (DMLC_* variables):

- the scheduler and M servers: `import mxnet` with DMLC_ROLE=scheduler/server is how MXNet runs
  them (mxnet/kvstore/kvstore_server.py runs the server loop on import, then exits);
- N workers: `python harness.py CELL RESULT` with cell['kvstore'] = 'dist_sync', each writing
  its own result. A worker joins the group (`Worker` below, used by gluon_models.train and
  keras_models.train) and trains its shard of every epoch's order.

Training semantics, identical to one process training the same global batches:
- cell['batch_size'] is the GLOBAL batch over all workers and devices; a worker's batch is
  batch_size / workers. Worker r trains order[r::workers], cut to whole global batches: at most
  batch_size - 1 samples of an epoch are not trained, because every worker must make the same
  number of pushes (or dist_sync waits forever) and the servers' optimizer keeps the 1/batch
  rescaling it was sent at the first step (Gluon's Trainer refuses another batch size on a dist
  kvstore). Global batch k is then exactly the samples of one process's batch k, so only the
  order of summation differs.
- dist_sync sums the gradients of all workers on the servers, which also run the optimizer
  (MXNet's default for dist kvstores, update_on_kvstore): Gluon's Trainer.step gets the global
  batch, so the servers' optimizer rescales by 1 / global batch.
- initial weights: rank 0's; kvstore.init on a dist kvstore stores rank 0's value, and Gluon's
  Trainer (and Module) pull it back to every worker before the first step.
At the end every worker reports a digest of its parameters and `run_cell` compares them.

The row: train_samples is the sum over workers; epoch times are the slowest worker's (the one
with the largest median epoch); samples_per_s = total train samples / that median (dist_sync
steps in lockstep, so the slowest worker sets the pace); train loss/accuracy are sample-weighted
over workers; validation is rank 0's; peak_rss_mb is the largest worker's. Added columns:
workers, servers, kvstore, per_worker ('0:123.4;1:120.1', each worker's samples/s, by rank) and
param_check ('identical' or 'DIFFERENT (...)').

A failure (a member exits non-zero or by a signal, or the whole group outlives timeout_s) stops
every process group (SIGTERM, then SIGKILL after GRACE_S) and raises DistributedError, whose
message is one line naming the role, rank and exit status.

    python distributed.py CELL_JSON --workers 2 --servers 1 [--timeout 600]   # prints the row
    python distributed.py --aggregate result-0.json result-1.json --servers 1  # rows from elsewhere

Across hosts (docs/distributed.md): `launch_command` is the recipe (MXNet's launcher over
ssh, `python -m shim.launch`), `run_launched` runs it for bench.py --hosts, and every member
started that way watches the group itself (`watch_group`: ps-lite would wait forever for a peer
whose network is gone). rehearse_hosts.py builds hosts out of network namespaces to try it.
"""
import argparse
import atexit
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
SYNC_KVSTORES = ("dist_sync", "dist_device_sync")
GRACE_S = 5.0      # after SIGTERM, before SIGKILL; also how long servers may take to wind down
POLL_S = 0.1
RANK_FILE_ENV = "KERAS_MXNET_BENCH_RANK_FILE"   # where a worker writes its ps-lite rank
# What a scheduler or server runs: import mxnet (through the shim, which makes pip's CUDA
# libraries loadable for GPU builds) with DMLC_ROLE set; the import serves until the job ends.
SERVER_CODE = "import shim; shim.import_mxnet()"


class DistributedError(RuntimeError):
    """A failed distributed cell; str() is one line. `.log_tail`: the failing member's output."""

    def __init__(self, reason, log_tail=""):
        super().__init__(reason)
        self.log_tail = log_tail


# ---- the worker side: used inside harness.py's process by the training loops -----------------

class Worker:
    """This process's membership of a parameter-server group (DMLC_* from the environment)."""

    def __init__(self, kvstore, batch_size):
        import shim

        if kvstore not in SYNC_KVSTORES:
            raise ValueError(f"kvstore {kvstore!r} is not supported; use one of "
                             f"{', '.join(SYNC_KVSTORES)}")
        mx = shim.import_mxnet()
        self.kvstore = mx.kv.create(kvstore)   # blocks until the whole group has registered
        self.rank, self.workers = self.kvstore.rank, self.kvstore.num_workers
        if batch_size % self.workers:
            raise ValueError(f"global batch {batch_size} does not split over {self.workers} "
                             f"workers")
        self.batch_size = batch_size
        rank_file = os.environ.get(RANK_FILE_ENV)
        if rank_file:
            Path(rank_file).write_text(str(self.rank))
        atexit.register(self._at_exit)

    def finish(self, arrays):
        """The worker's record columns (rank, digest of `arrays`, its parameters); then leave the
        group: free the kvstore, which finalizes ps-lite, a barrier of all nodes, after which
        the scheduler and servers exit. Called once training (and validation) is done. Freed
        here rather than left to garbage collection: Keras keeps the kvstore referenced from
        module globals, and a worker exiting with ps-lite still running aborts ('terminate
        called without an active exception') and leaves the scheduler and servers waiting."""
        import mxnet as mx

        columns = {"kvstore": self.kvstore.type, "workers": self.workers, "rank": self.rank,
                   **param_digest(arrays)}
        mx.nd.waitall()
        mx.base.check_call(mx.base._LIB.MXKVStoreFree(self.kvstore.handle))
        self.kvstore.handle = None   # KVStore.__del__ then frees nothing
        return columns

    def _at_exit(self):
        """A worker that leaves without finishing (an exception in training) exits at once:
        finalizing ps-lite would wait forever for the workers still training."""
        if self.kvstore.handle is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)

    def shard_size(self, n):
        """Samples this worker trains per epoch: its share of the whole global batches."""
        size = shard_size(n, self.workers, self.batch_size)
        if not size:
            raise ValueError(f"{n} training samples make no whole global batch of "
                             f"{self.batch_size}")
        return size

    def sharded(self, order):
        """`order` (epoch -> permutation) restricted to this worker's shard."""
        return lambda epoch: shard(order(epoch), self.rank, self.workers, self.batch_size)


def shard_size(n, workers, batch_size):
    return n // batch_size * (batch_size // workers)


def shard(index, rank, workers, batch_size):
    """Worker `rank`'s part of an epoch's order: every workers-th sample from the rank-th, cut to
    whole global batches. Its k-th batch of batch_size / workers samples and the other workers'
    k-th batches together are exactly the k-th global batch of `index`."""
    return index[rank::workers][:shard_size(len(index), workers, batch_size)]


def param_digest(arrays):
    """sha256 of the parameters' float32 bytes, in the given order, and their float64 sum."""
    digest = hashlib.sha256()
    total = 0.0
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=np.float32)
        digest.update(a.tobytes())
        total += float(a.sum(dtype=np.float64))
    return {"param_sha256": digest.hexdigest(), "param_sum": total}


# ---- every member started by MXNet's launcher: its own watchdog --------------------------------

PEER_TIMEOUT_S = 15.0   # a peer that acknowledges nothing we sent for this long is unreachable
HEARTBEAT_S = 2         # ps-lite's PS_HEARTBEAT_INTERVAL: every node then talks to the scheduler
TCP_ESTABLISHED, TCP_SYN_SENT = "01", "02"   # /proc/net/tcp states


def watch_group(peer_timeout_s=PEER_TIMEOUT_S):
    """Stop this process (exit status 1, one 'cell failed:' line) when the group can't go on.

    ps-lite waits forever for a peer that is gone: a worker whose host lost its network waits in
    a pull, a server for that worker's push, everyone for a scheduler that never answers. So every
    member watches (in a thread: the main one is blocked inside ps-lite) for
    - a peer that acknowledges nothing for peer_timeout_s: one of this process's TCP connections
      (or connection attempts) keeps retransmitting, as the kernel's own table shows;
      PS_HEARTBEAT_INTERVAL makes every node send to the scheduler every HEARTBEAT_S, so even an
      idle one notices;
    - its parent gone (the ssh session or the local driver that started it).
    Called by harness.py when DMLC_ROLE is set, before mxnet is imported."""
    os.environ.setdefault("PS_HEARTBEAT_INTERVAL", str(HEARTBEAT_S))
    parent = os.getppid()
    role = os.environ.get("DMLC_ROLE")
    where = os.environ.get("DMLC_NODE_HOST") or os.environ.get("DMLC_PS_ROOT_URI", "")

    def watch():
        silent_since = {}     # peer -> when it was first seen silent
        answered_polls = {}   # peer -> polls in a row that did not see it silent
        while True:
            time.sleep(1.0)
            now = time.monotonic()
            if os.getppid() != parent:
                leave(f"the process that started this {role} on {where} is gone")
            silent = silent_peers()
            for peer in silent:
                silent_since.setdefault(peer, now)
                answered_polls[peer] = 0
            for peer in list(silent_since):
                if peer not in silent:   # a connection attempt that failed and is not yet
                    answered_polls[peer] += 1   # retried shows nothing: a few polls, then reset
                    if answered_polls[peer] >= 3:
                        del silent_since[peer], answered_polls[peer]
                elif now - silent_since[peer] >= peer_timeout_s:
                    leave(f"{peer} has answered nothing for {peer_timeout_s:g} s "
                          f"(seen by the {role} on {where})")

    threading.Thread(target=watch, name="group-watchdog", daemon=True).start()


def leave(reason):
    print(f"cell failed: {reason}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1)


def silent_peers(pid="self"):
    """'host:port' of the peers this process is trying to reach in vain: one of its TCP sockets
    to them is still connecting, or is retransmitting (/proc/net/tcp's retrnsmt: retransmission
    timeouts since the last acknowledgement)."""
    mine = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    return {e["remote"] for e in tcp_table(pid) if e["inode"] in mine and (
        e["state"] == TCP_SYN_SENT or (e["state"] == TCP_ESTABLISHED and e["retransmits"]))}


def tcp_table(pid="self"):
    """The IPv4 TCP sockets of pid's network namespace, from /proc/PID/net/tcp."""
    rows = []
    lines = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
    for line in lines:
        f = line.split()
        rows.append({"local": _address(f[1]), "remote": _address(f[2]), "state": f[3],
                     "retransmits": int(f[6], 16), "inode": f[9]})
    return rows


def _address(hex_address):
    """'0100A8C0:1F90' -> '192.168.0.1:8080' (the kernel writes the address in host order)."""
    host, port = hex_address.split(":")
    packed = bytes.fromhex(host)
    if sys.byteorder == "little":
        packed = packed[::-1]
    return f"{socket.inet_ntoa(packed)}:{int(port, 16)}"


# ---- the launcher side --------------------------------------------------------------------------

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
        for line in reversed(self.log_tail(200).splitlines()):
            if line.startswith("cell failed:"):
                return line
        return ""


def describe_exit(status):
    """'died with exit status 1', 'was killed by SIGKILL (exit status -9)'"""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name} (exit status {status})"
    return f"died with exit status {status}"


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

    cell: harness.py's cell; cell['kvstore'] defaults to 'dist_sync'. Returns the aggregated row
    (see the module doc); raises DistributedError (one-line message) on any failure, after the
    whole group has been stopped. env: extra environment for every member (OMP_NUM_THREADS...).
    log_dir: keep each member's output there (default: a temporary directory, removed).
    """
    kvstore = cell.get("kvstore") or "dist_sync"
    if kvstore not in SYNC_KVSTORES:
        raise DistributedError(f"kvstore {kvstore!r} is not supported; use one of "
                               f"{', '.join(SYNC_KVSTORES)}")
    if workers < 1 or servers < 1:
        raise DistributedError(f"need at least 1 worker and 1 server, got {workers} and {servers}")
    from shim.contexts import ContextError, parse

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
            start("worker", i, [python, "-m", "cell", json.dumps(cell),
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


def launch_command(cell_file, result_pattern, hosts_file, workers, servers, host_ip,
                   python=None):
    """The multi-host recipe of docs/distributed.md: MXNet's launcher over ssh, run from
    this checkout's root on the launching host (which runs the scheduler; host_ip is its address on the hosts'
    network). Every host runs `python harness.py` in the same folder."""
    python = python or sys.executable
    return [python, "-m", "shim.launch", "-n", str(workers), "-s", str(servers),
            "-H", str(hosts_file), "--launcher", "ssh", "--host-ip", host_ip,
            python, "-m", "cell", f"@{cell_file}", str(result_pattern)]


def run_launched(cell, hosts_file, host_ip, workers, servers, timeout_s, env=None):
    """`cell` across the hosts of hosts_file (launch_command); returns the aggregated row, or
    raises DistributedError with the launch's one line (shim.launch names the role, its host and
    what happened, and has stopped the group). The workers write their result files into a
    fresh folder inside this checkout, which they must see at the same path: on several machines,
    a checkout on a shared filesystem."""
    cell = dict(cell, kvstore=cell.get("kvstore") or "dist_sync")
    hosts_file = Path(hosts_file).resolve()   # the launch runs in ROOT
    directory = Path(tempfile.mkdtemp(prefix=".launched-", dir=ROOT))
    try:
        cell_file = directory / "cell.json"
        cell_file.write_text(json.dumps(cell))
        command = launch_command(cell_file, directory / "result-{rank}.json", hosts_file, workers,
                                 servers, host_ip)
        log_path = directory / "launch.log"
        with open(log_path, "wb") as log:
            launch = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, **(env or {})),
                                      stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            status = launch.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(launch.pid, signal.SIGTERM)   # shim.launch stops the group on SIGTERM
            try:
                launch.wait(timeout=GRACE_S * 3)
            except subprocess.TimeoutExpired:
                os.killpg(launch.pid, signal.SIGKILL)
                launch.wait()
            raise DistributedError(f"timed out after {timeout_s:g} s") from None
        lines = log_path.read_text(errors="replace").splitlines()
        tail = "\n".join(lines[-20:])
        if status:
            said = [line for line in lines if line.startswith("shim.launch: ")]
            raise DistributedError(said[-1][len("shim.launch: "):] if said else
                                   f"the launch ended with exit status {status}", tail)
        rows = [json.loads(path.read_text()) for path in sorted(directory.glob("result-*.json"))]
        if len(rows) != workers:
            raise DistributedError(f"the launch ended well but left {len(rows)} result files "
                                   f"of {workers} (is {ROOT} shared by every host?)", tail)
        return aggregate(rows, servers)
    finally:
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


def aggregate(rows, servers):
    """One row for the group from the workers' rows (see the module doc)."""
    rows = sorted(rows, key=lambda r: r["rank"])
    first = rows[0]
    slowest = max(rows, key=lambda r: r["epoch_s_median"])
    total = sum(r["train_samples"] for r in rows)
    samples_per_s = total / slowest["epoch_s_median"]
    digests = {r["param_sha256"] for r in rows}
    if len(digests) == 1:
        param_check = "identical"
    else:
        param_check = "DIFFERENT (" + "; ".join(
            f"{r['rank']}:sum={r['param_sum']:.9g},sha256={r['param_sha256'][:12]}"
            for r in rows) + ")"
    row = {k: v for k, v in first.items() if k not in ("rank", "param_sha256", "param_sum")}
    row.update({
        "train_samples": total,
        "warmup_s": slowest["warmup_s"],
        "epoch_s_median": slowest["epoch_s_median"],
        "epoch_s_min": slowest["epoch_s_min"],
        "epoch_s_max": slowest["epoch_s_max"],
        "samples_per_s": round(samples_per_s, 2),
        "train_loss": round(sum(r["train_loss"] * r["train_samples"] for r in rows) / total, 5),
        "train_accuracy": round(sum(r["train_accuracy"] * r["train_samples"] for r in rows)
                                / total, 5),
        "gflops_per_s": round(first["flops_per_sample"] * samples_per_s / 1e9, 3),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
        "workers": len(rows),
        "servers": servers,
        "kvstore": first["kvstore"],
        "per_worker": ";".join(f"{r['rank']}:{r['samples_per_s']:.1f}" for r in rows),
        "param_check": param_check,
    })
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Run one cell on a local dist_sync group and print its row, or (--aggregate) "
                    "make the row from the workers' result files of a run started elsewhere, "
                    "e.g. across hosts by python -m shim.launch.")
    parser.add_argument("cell", nargs="?", help="the cell, as JSON (harness.py's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--log-dir")
    parser.add_argument("--aggregate", nargs="+", metavar="RESULT_JSON",
                        help="every worker's result file")
    args = parser.parse_args(argv)
    if args.aggregate:
        rows = [json.loads(Path(f).read_text()) for f in args.aggregate]
        print(json.dumps(aggregate(rows, args.servers), indent=1))
        return 0
    if not args.cell:
        parser.error("give a cell, or --aggregate RESULT_JSON...")
    try:
        row = run_cell(json.loads(args.cell), args.workers, args.servers, args.timeout,
                       log_dir=args.log_dir)
    except DistributedError as error:
        if error.log_tail:
            print(error.log_tail, file=sys.stderr)
        print(f"cell failed: {error}", file=sys.stderr)
        return 1
    print(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
