"""Running one cell: a fresh `python -m cell` process (cell/harness.py), or a parameter-server
group of them (distributed/), under the sweep's process-wide settings."""
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from shim import exits
from sweep import environment

ROOT = Path(__file__).resolve().parents[1]
HARNESS = [sys.executable, "-m", "cell"]   # run in ROOT, where `cell` is found


def run_one(cell, timeout, log_path, echo=False):
    """Run one cell in a fresh process; returns (measured columns, None) or (None, reason).

    The cell's stderr (library notices, its progress) goes to `log_path`, and to our stderr
    too with `echo` (--verbose); the log's last lines explain a failure.
    """
    with tempfile.TemporaryDirectory() as tmp, open(log_path, "wb") as log:
        result_path = Path(tmp) / "result.json"
        process = subprocess.Popen(HARNESS + [json.dumps(cell), str(result_path)], cwd=ROOT,
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE if echo else log,
                                   env=environment.cell_environment(cell))
        reader = None
        if echo:
            reader = threading.Thread(target=relay, args=(process.stderr, log), daemon=True)
            reader.start()
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None, f"timed out after {timeout} s"
        except BaseException:   # Ctrl-C or SIGTERM: the cell must not go on eating the cores
            process.kill()
            process.wait()
            raise
        finally:
            if reader:
                reader.join(timeout=5)
        if code == 0 and result_path.exists():
            return json.loads(result_path.read_text()), None
    text = Path(log_path).read_bytes()[-16384:].decode(errors="replace")
    return None, exits.explain(code, text.replace("\r", "\n").splitlines())


def run_distributed(cell, args, log_dir):
    """A cell on a parameter-server group (distributed/), local or across --hosts; same return
    as run_one. Every local member's output goes to log_dir."""
    import distributed

    try:
        if args.hosts:
            return distributed.run_launched(cell, args.hosts, args.host_ip, args.workers,
                                            args.servers, args.cell_timeout,
                                            env=environment.cell_environment(cell)), None
        return distributed.run_cell(cell, args.workers, args.servers, args.cell_timeout,
                                    env=environment.cell_environment(cell),
                                    log_dir=log_dir), None
    except distributed.DistributedError as error:
        return None, str(error)


def relay(stream, log):
    """Copy a child's stderr to its log and to ours as it comes (--verbose)."""
    for chunk in iter(lambda: stream.read1(4096), b""):
        log.write(chunk)
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()
