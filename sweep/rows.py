"""A cell's runs.csv row: the cell run with its noise record (`measure`), and the columns of the
machine and the checkout that every row of a sweep carries (`machine_columns`)."""
import os
import shutil
import socket
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from cell import noise
from report import storage
from shim.contexts import parse_list
from sweep import environment, process
from sweep import model as sweep_model
from sweep.args import cpu_model

ROOT = Path(__file__).resolve().parents[1]


def git_commit(root=ROOT):
    """The checkout's commit, with '-dirty' when tracked files differ from it (then the code
    that ran is not the commit's); '' outside a git checkout."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=root, text=True, capture_output=True,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return ""
    return commit + ("-dirty" if changed else "")


def machine_columns(label, gpus=""):
    return {"label": label, "host": socket.gethostname(), "cpu": cpu_model(),
            "cores": os.cpu_count(), "gpus": gpus, "git_commit": git_commit()}


def gpu_names(indices):
    if not indices:
        return ""
    from shim import gpu

    found = {g.index: g.name for g in gpu.driver_gpus()[0]}
    return "; ".join(f"gpu:{i} {found.get(i, '?')}" for i in indices)


def cell_name(cell):
    """A file name for a cell's log: lenet-keras-cpu_0-1-b128-float32-w1-tall-r2."""
    name = (f"{cell['scenario']}-{cell['arm']}-{cell['ctx']}-b{cell['batch_size']}-"
            f"{cell['dtype']}-w{cell['workers']}-t{storage.threads_of(cell)}-r{cell['round']}")
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)


def measure(cell, args, out, machine, measured_peak):
    """Run one cell with its noise record; returns (runs.csv row, wall seconds).

    The cell's output goes to a log of its own, kept in <out>/logs/ when the cell fails.
    """
    with tempfile.TemporaryDirectory() as tmp:
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        probe = noise.Probe()
        verified = sweep_model.verdict(args, cell)
        refused = sweep_model.refuses(args, cell)   # by the verification: never timed, no log
        if refused:
            measured, reason = None, f"not verified: {verified}"
        elif cell.get("kvstore") == "dist_sync":
            measured, reason = process.run_distributed(cell, args, Path(tmp))
        else:
            measured, reason = process.run_one(cell, args.cell_timeout, Path(tmp) / "cell.log",
                                               echo=args.verbose)
        record = probe.stop()
        if reason and not refused:
            logs = out / "logs" / cell_name(cell)
            shutil.copytree(tmp, logs, dirs_exist_ok=True)
            reason += f" (log: {logs.relative_to(out)})"
    row = cell_columns(cell, args, machine, started, record, verified)
    return add_result(row, measured, reason, record, out, measured_peak), record["wall_s"]


def cell_columns(cell, args, machine, started, record, verified, method=storage.METHOD):
    """A cell's row before its result: what it was, the machine, its settings, its noise
    record (sweep/turn_rows.py makes the rows of a round by turns with it too)."""
    row = {key: cell[key] for key in ("scenario", "impl", "ctx", "batch_size", "epochs", "repeat",
                                      "data", "workers", "dtype", "max_samples", "round", "arm",
                                      "order", "threads")}
    row.update({key: cell[key] for key in sweep_model.ROW_COLUMNS if key in cell},
               **({"verified": verified} if verified else {}))
    if cell.get("fixes") is not None:   # what the arm asked for, even when it failed
        row["fixes"] = "+".join(cell["fixes"])
    devices = parse_list(cell["ctx"])[0].devices
    # Both sides reduce gradients over several local devices with kvstore 'device'.
    settings = environment.cell_environment(cell)
    row.update(machine, started_at=started, devices=devices, method=method,
               omp_threads=settings["OMP_NUM_THREADS"],
               process_env=environment.process_env(settings),
               kvstore=cell.get("kvstore") or ("device" if devices > 1 else ""),
               **{k: v for k, v in record.items() if k != "wall_s"})
    if cell.get("profile"):
        row["profiled"] = "yes"   # even when it failed: a profiled cell is never a timing
    return row


def add_result(row, measured, reason, record, out, measured_peak):
    """The row with its cell's result (measured columns, status ok, noise flags, fraction of
    peak; operators to operators.csv), or status failed and the reason."""
    if measured:
        timed = measured.pop("epoch_s_timed", None)
        operators = measured.pop("operators", None)
        if operators:
            storage.append_operators(out / storage.OPERATORS_FILE, row, operators)
        row.update(measured, status="ok", reason="", noise_flags=noise.flags(record, timed))
        row.update(storage.fraction_of_peak(row, measured_peak))  # only against a peak of its device
    else:
        row.update(status="failed", reason=reason)
    return row
