"""MXNet's parameter server across separate hosts, and what a network fault does to it.

The hosts are Linux network namespaces on this machine (distributed.rehearsal.Cluster: one
address and one sshd each, a switch between them); the runs go through MXNet's own launcher over ssh, as the
README's multi-host recipe says. Needs root (CI runs as root); elsewhere these tests skip with the
reason. Tests named *separate_hosts* run the cluster; *partition* ones make network faults.
Also here: bench.py --kvstore dist_sync through to runs.csv (on 127.0.0.1).
"""
import csv
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import distributed
from distributed import rehearsal, watchdog
from distributed.rehearsal import HOSTS

# the machine to itself (pytest.ini: serial)
pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parents[1]
CELL = dict(rehearsal.CELL, max_samples=256, epochs=2)
LONG_CELL = dict(CELL, max_samples=2048, epochs=200)   # trains until the fault stops it
FAULT_BOUND_S = 60   # README: the whole group stops within this after a network fault


@pytest.fixture(scope="module")
def can_build():
    reason = rehearsal.can_build()
    if reason:
        pytest.skip(f"no separate hosts here: {reason}")


@pytest.fixture
def cluster(can_build):
    try:
        with rehearsal.Cluster() as built:
            yield built
    except rehearsal.SetupError as error:
        pytest.skip(f"no separate hosts here: {error}")
    assert rehearsal.our_namespaces() == []   # namespaces, links and processes are gone


@pytest.fixture(scope="module")
def local_row(can_build):
    """A dist_sync row of the same cell on 127.0.0.1 (distributed.run_cell), for its form."""
    return distributed.run_cell(CELL, workers=2, servers=1, timeout_s=120)


@pytest.mark.slow
@pytest.mark.parametrize("impl, servers", [("gluon", 1), ("keras", 1), ("gluon", 2),
                                           ("keras", 2)])
def test_separate_hosts_train_identical_parameters_through_the_ssh_launcher(cluster, local_row,
                                                                           impl, servers):
    outcome = rehearsal.rehearse(cluster, dict(CELL, impl=impl), servers, timeout_s=180)
    assert outcome["status"] == "ok", (outcome["reason"], outcome["log"][-20:])
    row = outcome["row"]
    assert row["param_check"] == "identical"
    assert (row["workers"], row["servers"], row["kvstore"]) == (2, servers, "dist_sync")
    assert row["train_samples"] == 256 and row["per_device_batch"] == 32
    assert sorted(row) == sorted(local_row)   # the same columns as a local dist_sync row
    # every role on its host, talking only between the hosts' addresses, never over 127.0.0.1
    seen = outcome["connections"]
    roles = {(host, role) for host, role, _, _ in seen}
    assert roles == {("a", "scheduler"), ("a", "server"), ("b", "worker"), ("c", "worker")}
    assert rehearsal.check_connections(seen) is None
    assert {remote.split(":")[0] for *_, remote in seen} == set(HOSTS.values())
    assert outcome["left"] == []


def check_stopped(outcome, names):
    """A failed launch: one line naming the host, every role gone within the bound."""
    assert outcome["status"] == "failed", outcome["log"][-20:]
    reason = outcome["reason"]
    assert "\n" not in reason and names in reason, reason
    said = [line for line in outcome["log"] if line.startswith("shim.launch: ")]
    assert said == [f"shim.launch: {reason}"]
    assert outcome["left"] == []
    assert outcome["stopped_at"] - outcome["fault_at"] < FAULT_BOUND_S
    return reason


@pytest.mark.slow
def test_partition_of_a_worker_host_stops_the_group(cluster):
    outcome = rehearsal.rehearse(cluster, LONG_CELL, fault="partition", timeout_s=150)
    reason = check_stopped(outcome, HOSTS["c"])
    # ssh's keep-alive or a role's watchdog, whichever saw it first
    assert ("Timeout, server 10.213.0.3 not responding" in reason
            or "has answered nothing for" in reason), reason


@pytest.mark.slow
def test_partition_server_killed_stops_the_group(cluster):
    outcome = rehearsal.rehearse(cluster, LONG_CELL, fault="server-killed", timeout_s=150)
    reason = check_stopped(outcome, f"server on host {HOSTS['a']}")
    assert "killed by a signal" in reason


@pytest.mark.slow
def test_partition_scheduler_unreachable_at_start_stops_the_group(cluster):
    outcome = rehearsal.rehearse(cluster, LONG_CELL, fault="scheduler-unreachable",
                                      timeout_s=150)
    reason = check_stopped(outcome, rehearsal.UNREACHABLE)
    assert f"{rehearsal.UNREACHABLE}:" in reason and "has answered nothing for 15 s" in reason


@pytest.mark.slow
def test_bench_dist_sync_writes_ok_rows_for_both_sides_and_scenarios(tmp_path):
    done = subprocess.run(
        [sys.executable, "bench.py", "--kvstore", "dist_sync", "--workers", "2", "--servers", "1",
         "--scenario", "lenet,rnn", "--impl", "keras,gluon", "--data", "synthetic",
         "--max-samples", "256", "--batch-sizes", "64", "--epochs", "2", "--quiet",
         "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["scenario"], r["impl"]) for r in rows) == [
        ("lenet", "gluon"), ("lenet", "keras"), ("rnn", "gluon"), ("rnn", "keras")]
    for r in rows:
        assert (r["status"], r["param_check"], r["kvstore"]) == ("ok", "identical", "dist_sync")
        assert (r["workers"], r["servers"], r["train_samples"]) == ("2", "1", "256")


# ---- the pieces, on this machine (no root needed) ---------------------------------------------

def test_watchdog_reads_this_process_connections_from_the_kernel_table():
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        with client, accepted:
            here, there = client.getsockname(), client.getpeername()
            table = watchdog.tcp_table()
            assert {"local": f"{here[0]}:{here[1]}", "remote": f"{there[0]}:{there[1]}"}.items() \
                <= next(e for e in table if e["local"] == f"{here[0]}:{here[1]}").items()
            # a connection that is answered is not silent
            assert f"{there[0]}:{there[1]}" not in watchdog.silent_peers()


LAUNCHED_ROLE = """#!/bin/bash
echo "$DMLC_ROLE at $DMLC_PS_ROOT_URI"
if [ "$DMLC_ROLE" = scheduler ]; then echo 'cell failed: RuntimeError: the scheduler gave up'; exit 3; fi
sleep 60
"""


def test_launcher_failure_is_one_line_naming_the_role_and_host_and_stops_the_launch(tmp_path):
    # shim.launch supervises the roles it starts (with --launcher local: the scheduler): the
    # first failure ends the launch with one line; --host-ip is the scheduler's address
    script = tmp_path / "role.sh"
    script.write_text(LAUNCHED_ROLE)
    script.chmod(0o755)
    done = subprocess.run([sys.executable, "-m", "shim.launch", "-n", "1", "-s", "1",
                           "--launcher", "local", "--host-ip", "127.0.0.9", str(script)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "scheduler at 127.0.0.9" in done.stdout
    said = [line for line in done.stderr.splitlines() if line.startswith("shim.launch:")]
    assert said == ["shim.launch: scheduler on host 127.0.0.9 failed: RuntimeError: the "
                    "scheduler gave up"]


@pytest.mark.slow
def test_a_role_whose_starter_is_gone_stops_itself(tmp_path):
    # the watchdog's second rule: the harness (python -m cell) in a group role, its parent killed -> it exits
    starter = subprocess.Popen(
        ["bash", "-c", f"DMLC_ROLE=server DMLC_PS_ROOT_URI=127.0.0.1 DMLC_PS_ROOT_PORT=9 "
                       f"DMLC_NUM_WORKER=1 DMLC_NUM_SERVER=1 {sys.executable} -m cell x y "
                       f"2> {tmp_path / 'err'} & echo $! > {tmp_path / 'pid'}; wait"],
        cwd=ROOT, start_new_session=True)
    deadline = time.monotonic() + 10
    while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    role = int((tmp_path / "pid").read_text())
    time.sleep(2)                  # the role is now in ps-lite, waiting for a scheduler
    starter.kill()
    starter.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{role}").exists() and "\nState:\tZ" not in \
            Path(f"/proc/{role}/status").read_text(errors="replace"):
        assert time.monotonic() < deadline, "the role outlived its starter by 10 s"
        time.sleep(0.2)
    assert "cell failed: the process that started this server on 127.0.0.1 is gone" in \
        (tmp_path / "err").read_text()


def bench_across(cluster, tmp_path, host_ip):
    """bench.py run on host A with --hosts: one LeNet Gluon cell, its runs.csv row."""
    hosts = tmp_path / "hosts"
    hosts.write_text("\n".join(rehearsal.hosts_lines(1)) + "\n")
    done = subprocess.run(
        ["ip", "netns", "exec", rehearsal.namespace("a"), sys.executable, "bench.py",
         "--kvstore", "dist_sync", "--hosts", str(hosts), "--host-ip", host_ip,
         "--scenario", "lenet", "--impl", "gluon", "--data", "synthetic", "--max-samples", "256",
         "--batch-sizes", "64", "--epochs", "2", "--quiet", "--cell-timeout", "120",
         "--out", str(tmp_path / "out")],
        cwd=ROOT, env=cluster.env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "out" / "runs.csv") as f:
        (row,) = csv.DictReader(f)
    assert list(ROOT.glob(".launched-*")) == []
    return row


@pytest.mark.slow
def test_separate_hosts_bench_row_through_the_launcher(cluster, tmp_path):
    row = bench_across(cluster, tmp_path, HOSTS["a"])
    assert (row["status"], row["param_check"], row["workers"], row["servers"]) == \
        ("ok", "identical", "2", "1")


@pytest.mark.slow
def test_partition_bench_row_is_failed_with_the_launch_line(cluster, tmp_path):
    row = bench_across(cluster, tmp_path, rehearsal.UNREACHABLE)
    assert row["status"] == "failed"
    assert f"{rehearsal.UNREACHABLE}:" in row["reason"], row["reason"]
    assert "has answered nothing for 15 s" in row["reason"] and "\n" not in row["reason"]
    assert cluster.roles() == {}
