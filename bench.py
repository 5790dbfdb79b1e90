"""Measure what the Keras API layer costs on top of MXNet Gluon.

    python bench.py --ctx cpu --impl keras,gluon --scenario lenet,rnn --batch-sizes 64,128
    python bench.py --ctx gpu:0-7 --impl keras,gluon
    python bench.py --check          # GPU preflight: build, driver, kernels, verdict per GPU
    python bench.py --peak           # this machine's sustained FP32 GEMM rate
    python bench.py plots            # regenerate plots and results/README.md

A round runs every arm (keras, gluon, ...; gluon-control with --control) of every configuration
(scenario x ctx x batch x threads) once: by turns (--method turns, the default) the arms of a
configuration alive at once, one timed epoch each per turn in a shuffled order (sweep/turns.py);
by --method rounds back to back in a shuffled order. Each cell (configuration x arm x round) runs
in its own fresh process (`python -m cell`),
so the implementations never share a process, a memory pool or a crash; every finished cell is
appended to <out>/runs.csv at once, and <out>/summary.md and <out>/ratios.csv are regenerated.

This file is the command line alone (its parsing, its exit statuses); the sweep itself is the
package sweep/ (sweep/__init__.py says which module does what), which holds no framework code.
"""
import shlex
import signal
import sys

from report import storage
from sweep.args import UsageError, parser, threads_overridden, validate
from sweep.loop import SweepStopped, run_sweep
from sweep.peak import measure_peak


class Terminated(BaseException):   # like KeyboardInterrupt: no `except Exception` swallows it
    """SIGTERM, raised in the main thread so that the cell in flight is stopped as well."""


def terminate(signum, frame):
    raise Terminated


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    on_sigterm = signal.signal(signal.SIGTERM, terminate)
    try:
        if argv[:1] == ["plots"]:
            from report.__main__ import main as report_main

            return report_main(argv[1:])
        args = parser().parse_args(argv)
        args.command = shlex.join(["bench.py", *argv])   # named to a second sweep of its folder
        if args.check:
            from shim import gpu

            return gpu.main([])
        if args.peak:
            return measure_peak(args)
        validate(args)
        if note := threads_overridden(args):
            print(note)
        return run_sweep(args)
    except (UsageError, storage.ReportError) as error:
        print(f"bench.py: error: {error}", file=sys.stderr)
        return 2
    except SweepStopped as error:
        print(f"bench.py: error: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Terminated) as stop:
        how, status = ("terminated", 143) if isinstance(stop, Terminated) else ("interrupted", 130)
        print(f"bench.py: {how}; finished cells are in runs.csv (use --resume)", file=sys.stderr)
        return status
    finally:
        storage.release_all()   # in-process callers (tests) may start another sweep after
        signal.signal(signal.SIGTERM, on_sigterm)


if __name__ == "__main__":
    sys.exit(main())
