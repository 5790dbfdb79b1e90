"""One cell across hosts: docs/distributed.md's recipe (MXNet's launcher over ssh,
`python -m shim.launch`), and running it for bench.py --hosts. Every member started that way
watches the group itself (distributed.watchdog)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .local import GRACE_S, HARNESS, ROOT, DistributedError
from .rows import aggregate


def launch_command(cell_file, result_pattern, hosts_file, workers, servers, host_ip,
                   python=None):
    """The multi-host recipe of docs/distributed.md: MXNet's launcher over ssh, run from
    this checkout's root on the launching host (which runs the scheduler; host_ip is its address on the hosts'
    network). Every host runs `python -m cell` in the same folder."""
    python = python or sys.executable
    return [python, "-m", "shim.launch", "-n", str(workers), "-s", str(servers),
            "-H", str(hosts_file), "--launcher", "ssh", "--host-ip", host_ip,
            python, *HARNESS, f"@{cell_file}", str(result_pattern)]


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
