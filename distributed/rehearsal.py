"""Rehearse a multi-host parameter-server run on one machine, before renting machines.

    sudo .venv/bin/python -m distributed.rehearsal [--impl gluon] [--servers 1] [--fault partition]
    make rehearse-hosts

builds three hosts out of Linux network namespaces (root only), each with its own address and an
OpenSSH server listening on it alone, joined by a switch (a bridge in a fourth namespace):

    host A  10.213.0.1   the launch, the scheduler and the server(s)
    host B  10.213.0.2   worker
    host C  10.213.0.3   worker

then runs the recipe of docs/distributed.md on them exactly: on A, `python -m shim.launch ...
--launcher ssh ... harness.py @cell.json 'result-{rank}.json'`, and `python -m distributed
--aggregate` on the results.
It prints the row, and checks that every role's TCP connections go between the hosts' addresses
(none over 127.0.0.1). The addresses exist only inside these namespaces. Everything is removed at
the end, even on failure; a run that was killed is cleaned up by the next one (fixed names,
PREFIX-*).

--fault shows what the user sees when the network fails (see docs/distributed.md):
  partition              host C's cable is pulled mid-training (its switch port goes down)
  server-killed          the server process on host A is killed (SIGKILL) mid-training
  scheduler-unreachable  the scheduler's address (--host-ip) is one no host answers at

Needs: root, iproute2 (`ip`), OpenSSH's sshd and ssh (Debian: apt-get install openssh-server).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .hosts import launch_command
from .local import ROOT, DistributedError
from .watchdog import tcp_table

PREFIX = "kmbh"                    # every namespace this module makes is named PREFIX-*
SWITCH = f"{PREFIX}-switch"
NET = "10.213.0"                   # a private test range, only inside these namespaces
HOSTS = {"a": f"{NET}.1", "b": f"{NET}.2", "c": f"{NET}.3"}
# the scheduler's address for the fault scheduler-unreachable: one of the range that no host has
# (an address on a link set down was tried first, but the sandbox this was written in, gVisor,
# still answers for it)
UNREACHABLE = f"{NET}.10"
SSHD = "/usr/sbin/sshd"
FAULTS = ("partition", "server-killed", "scheduler-unreachable")
CELL = {"scenario": "lenet", "impl": "gluon", "ctx": "cpu", "batch_size": 64, "epochs": 2,
        "data": "synthetic", "max_samples": 256, "seed": 0, "quiet": True,
        "kvstore": "dist_sync"}


class SetupError(RuntimeError):
    """Why hosts can't be built here, in one line."""


def sh(*argv, check=True):
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode:
        raise SetupError(f"{' '.join(argv)}: {(done.stderr or done.stdout).strip()}")
    return done


def namespace(host):
    return f"{PREFIX}-{host}"


def our_namespaces():
    listed = sh("ip", "netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in listed if line.startswith(f"{PREFIX}-")]


def pids_in(ns):
    return [int(p) for p in sh("ip", "netns", "pids", ns, check=False).stdout.split()]


def clean_up():
    """Kill every process in our namespaces and delete them (their links go with them)."""
    for ns in our_namespaces():
        for pid in pids_in(ns):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    while any(pids_in(ns) for ns in our_namespaces()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for ns in our_namespaces():
        sh("ip", "netns", "delete", ns, check=False)


def can_build():
    """None when this machine can build hosts, else the one-line reason it can't."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and sshd)"
    for tool in ("ip", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            return f"needs {tool} (apt-get install iproute2 openssh-client)"
    if not os.access(SSHD, os.X_OK):
        return f"needs {SSHD} (apt-get install openssh-server)"
    return None


class Cluster:
    """The hosts, their network and their sshd; `with Cluster() as cluster:`."""

    def __init__(self):
        self.dir = None
        self.sshd = []

    def __enter__(self):
        reason = can_build()
        if reason:
            raise SetupError(reason)
        clean_up()
        try:
            self.dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
            self.build_network()
            self.start_sshd()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        clean_up()   # sshd and every role were started inside the namespaces
        for process in self.sshd:
            process.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def build_network(self):
        sh("ip", "netns", "add", SWITCH)
        sh("ip", "-n", SWITCH, "link", "add", "switch", "type", "bridge")
        sh("ip", "-n", SWITCH, "link", "set", "switch", "up")
        for host, address in HOSTS.items():
            ns = namespace(host)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")   # a host reaches its own address via lo
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth",
               "peer", "name", f"port-{host}", "netns", SWITCH)
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", SWITCH, "link", "set", f"port-{host}", "master", "switch", "up")
        # the scheduler may bind an address A does not have: for the fault scheduler-unreachable
        sh("ip", "netns", "exec", namespace("a"), "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1")

    def start_sshd(self):
        """One sshd per host, on its address only; keys made for this run."""
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)   # sshd's privilege-separation dir
        keys = self.dir / "keys"
        keys.mkdir()
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "host"))
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "client"))
        shutil.copy(keys / "client.pub", keys / "authorized_keys")
        for host, address in HOSTS.items():
            config = self.dir / f"sshd-{host}.conf"
            config.write_text(
                f"ListenAddress {address}\nPort 22\nHostKey {keys / 'host'}\n"
                f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPidFile none\n"
                "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                # no ClientAliveInterval, as sshd's defaults: a role on a host cut off from
                # the launch must stop by itself (distributed.watchdog)
                "PrintMotd no\nLogLevel ERROR\n")
            self.sshd.append(subprocess.Popen(
                ["ip", "netns", "exec", namespace(host), SSHD, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(self.dir / f"sshd-{host}.log", "wb")))
        # the launcher runs plain `ssh`: a wrapper first on PATH adds this run's client config
        host_key = (keys / "host.pub").read_text().split()
        (self.dir / "known_hosts").write_text("".join(
            f"{address} {host_key[0]} {host_key[1]}\n" for address in HOSTS.values()))
        (self.dir / "ssh_config").write_text(
            f"Host {NET}.*\n  User root\n  IdentityFile {keys / 'client'}\n"
            f"  IdentitiesOnly yes\n  UserKnownHostsFile {self.dir / 'known_hosts'}\n"
            "  StrictHostKeyChecking yes\n")
        bin_dir = self.dir / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("ssh")} -F {self.dir / "ssh_config"}'
                           ' "$@"\n')
        wrapper.chmod(0o755)
        for host, address in HOSTS.items():   # every sshd answers before anything uses it
            deadline = time.monotonic() + 20
            while True:
                done = subprocess.run(
                    ["ip", "netns", "exec", namespace("a"), str(wrapper), "-o", "BatchMode=yes",
                     "-o", "ConnectTimeout=5", address, "true"], capture_output=True, text=True)
                if done.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    log = (self.dir / f"sshd-{host}.log").read_text(errors="replace").strip()
                    raise SetupError(f"sshd on host {host} ({address}) does not answer: "
                                     f"{done.stderr.strip() or log}")
                time.sleep(0.2)

    def env(self):
        """The environment for the launch on host A: this run's ssh first on PATH."""
        return dict(os.environ, PATH=f"{self.dir / 'bin'}:{os.environ['PATH']}")

    def pull_cable(self, host):
        sh("ip", "-n", SWITCH, "link", "set", f"port-{host}", "down")

    def roles(self):
        """{pid: (host, DMLC_ROLE)} of every process of the group now running in the hosts."""
        found = {}
        for host in HOSTS:
            for pid in pids_in(namespace(host)):
                try:
                    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                except OSError:
                    continue
                role = next((v[10:].decode() for v in environ if v.startswith(b"DMLC_ROLE=")),
                            None)
                if role:
                    found[pid] = (host, role)
        return found

    def connections(self):
        """[(host, role, local, remote)] for every connected TCP socket of every role."""
        found = []
        for pid, (host, role) in self.roles().items():
            try:
                mine = {os.readlink(fd)[8:-1] for fd in Path(f"/proc/{pid}/fd").iterdir()
                        if os.readlink(fd).startswith("socket:[")}
                table = tcp_table(pid)
            except OSError:
                continue
            found += [(host, role, e["local"], e["remote"]) for e in table
                      if e["inode"] in mine and e["state"] == "01"]
        return found


def hosts_lines(servers):
    """The launcher gives the servers the first lines, then the workers, round robin: A once per
    server, then B and C, puts the servers on A and one worker on each of B and C."""
    return [HOSTS["a"]] * servers + [HOSTS["b"], HOSTS["c"]]


def rehearse(cluster, cell, servers=1, fault=None, timeout_s=300):
    """Run `cell` on 2 workers across the hosts (making `fault` once both train). Returns a dict:
    status ('ok' or 'failed'), reason (the launch's one line), row (the aggregated row, or None),
    connections (seen during the run), log (the launch's output), seconds (the launch's wall
    time) and, as time.monotonic() values: started_at, joined_at (both workers connected to the
    servers, or None), fault_at (when the fault was made, else started_at), ended_at (the launch
    ended), stopped_at (no role left in any host); left: (host, role) still running at
    stopped_at, only when timeout_s ran out first."""
    work = cluster.dir / f"run-{time.monotonic_ns()}"
    work.mkdir()
    cell_file, hosts_file = work / "cell.json", work / "hosts"
    cell_file.write_text(json.dumps(dict(cell, kvstore="dist_sync")))
    hosts_file.write_text("\n".join(hosts_lines(servers)) + "\n")
    host_ip = UNREACHABLE if fault == "scheduler-unreachable" else HOSTS["a"]
    command = launch_command(cell_file, work / "result-{rank}.json", hosts_file, 2, servers,
                             host_ip)
    started = time.monotonic()
    launch = subprocess.Popen(["ip", "netns", "exec", namespace("a"), *command], cwd=ROOT,
                              env=cluster.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    log, connections, outcome = [], set(), {}

    def read():
        for raw in launch.stdout:
            log.append(raw.decode(errors="replace").rstrip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        while launch.poll() is None:
            if time.monotonic() - started > timeout_s:
                raise DistributedError(f"rehearsal: the launch outlived {timeout_s} s")
            connections.update(cluster.connections())
            if "joined_at" not in outcome and workers_are_training(cluster):
                outcome["joined_at"] = time.monotonic()
            if fault and "fault_at" not in outcome and fault != "scheduler-unreachable":
                outcome.update(make_fault(cluster, fault))
            time.sleep(0.2)
    finally:
        if launch.poll() is None:
            os.killpg(launch.pid, signal.SIGKILL)
            launch.wait()
        reader.join(10)
    ended_at = time.monotonic()
    seconds = ended_at - started
    while cluster.roles() and time.monotonic() - started < timeout_s:   # roles on other hosts
        time.sleep(0.2)                                                # stop by themselves
    stopped_at = time.monotonic()
    left = sorted(set(cluster.roles().values()))
    said = [line for line in log if line.startswith("shim.launch: ")]
    result = {"status": "ok", "reason": "", "row": None, "connections": sorted(connections),
              "seconds": seconds, "log": log, "fault_at": outcome.get("fault_at", started),
              "stopped_at": stopped_at, "left": left, "ended_at": ended_at, "started_at": started,
              "joined_at": outcome.get("joined_at")}
    if launch.returncode:
        result.update(status="failed", reason=said[-1][len("shim.launch: "):] if said else
                      f"the launch ended with exit status {launch.returncode}: "
                      f"{log[-1] if log else ''}")
        return result
    results = sorted(work.glob("result-*.json"))
    aggregated = subprocess.run([sys.executable, "-m", "distributed", "--aggregate",
                                 *map(str, results), "--servers", str(servers)],
                                cwd=ROOT, capture_output=True, text=True)
    if aggregated.returncode:
        raise DistributedError(f"--aggregate failed: {aggregated.stderr.strip()}")
    result["row"] = json.loads(aggregated.stdout)
    return result


def make_fault(cluster, fault):
    """Once both workers train, make the fault; returns {'fault_at': when}, or {} (not yet)."""
    if not workers_are_training(cluster):
        return {}
    if fault == "partition":
        cluster.pull_cable("c")
    elif fault == "server-killed":
        pid = next(pid for pid, (_, role) in cluster.roles().items() if role == "server")
        os.kill(pid, signal.SIGKILL)
    return {"fault_at": time.monotonic()}


def workers_are_training(cluster):
    """Both workers hold connections to the servers (ps-lite connects once all registered)."""
    workers_connected = {}
    for host, role, _, remote in cluster.connections():
        if role == "worker":
            workers_connected.setdefault(host, set()).add(remote)
    return len(workers_connected) == 2 and all(len(v) >= 2 for v in workers_connected.values())


def check_connections(connections):
    """Every role's peers are hosts' addresses, never loopback; returns a one-line problem or
    None."""
    allowed = set(HOSTS.values())
    bad = [c for c in connections if c[3].split(":")[0] not in allowed
           or c[2].split(":")[0] not in allowed]
    if bad:
        return f"connections outside the hosts' addresses: {bad[:4]}"
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m distributed.rehearsal",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=("gluon", "keras"), default="gluon")
    parser.add_argument("--scenario", choices=("lenet", "rnn"), default="lenet")
    parser.add_argument("--servers", type=int, choices=(1, 2), default=1)
    parser.add_argument("--max-samples", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fault", choices=FAULTS)
    args = parser.parse_args(argv)
    cell = dict(CELL, impl=args.impl, scenario=args.scenario, max_samples=args.max_samples,
                epochs=args.epochs)
    try:
        with Cluster() as cluster:
            print(f"hosts: {', '.join(f'{h.upper()} {a}' for h, a in HOSTS.items())} "
                  f"(namespaces {PREFIX}-a/b/c, sshd on each)")
            result = rehearse(cluster, cell, args.servers, args.fault)
    except SetupError as error:
        print(f"rehearse-hosts: can't build the hosts here: {error}", file=sys.stderr)
        return 2
    print(f"launch: {result['seconds']:.1f} s, {result['status']}"
          + (f": {result['reason']}" if result["reason"] else ""))
    if result["joined_at"]:
        print(f"group formed {result['joined_at'] - result['started_at']:.1f} s after the launch")
    if args.fault:
        print(f"after the fault: the launch ended in "
              f"{result['ended_at'] - result['fault_at']:.1f} s, every role was gone in "
              f"{result['stopped_at'] - result['fault_at']:.1f} s"
              + (f"; still running: {result['left']}" if result["left"] else ""))
    if result["row"]:
        print(json.dumps(result["row"], indent=1))
    problem = check_connections(result["connections"])
    if result["connections"]:
        print(problem or f"connections: {len(result['connections'])} seen, all between "
                         f"{', '.join(HOSTS.values())}")
    return 0 if result["status"] == "ok" and not problem else 1


if __name__ == "__main__":
    sys.exit(main())
