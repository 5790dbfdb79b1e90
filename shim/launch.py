"""MXNet's own cluster launcher on Python 3.9+: `python -m shim.launch [launch.py arguments]`.

The mxnet 1.9.1 wheel ships the launcher (mxnet/tools/launch.py) and the dmlc_tracker package it
drives (site-packages/dmlc_tracker: local, ssh, mpi, sge, yarn submitters). The tracker waits on
its threads with `Thread.isAlive()`, removed in Python 3.9, so every launch ends in
AttributeError once the jobs are submitted. This module restores the alias and runs the bundled
launch.py unchanged, with the same arguments:

    python -m shim.launch -n 2 -s 1 -H hosts --launcher ssh --sync-dst-dir /tmp/bench \\
        python harness.py @cell.json 'result-{rank}.json'
    python -m shim.launch -n 2 -s 1 --launcher local python harness.py @cell.json 'result-{rank}.json'

The launcher runs the same command for the scheduler, the servers and the workers (DMLC_ROLE
tells them apart); harness.py serves as a scheduler or server when DMLC_ROLE says so. Neither
mxnet nor keras is imported here.
"""
import importlib.util
import os
import runpy
import sys
import threading


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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    path = launcher_path()
    patch_threading()
    sys.argv = [path] + argv
    runpy.run_path(path, run_name="__main__")


if __name__ == "__main__":
    main()
