"""Measure what the Keras API layer costs on top of MXNet Gluon.

    python bench.py --ctx cpu --impl keras,gluon --scenario lenet,rnn --batch-sizes 64,128
    python bench.py --ctx gpu:0-7 --impl keras,gluon
    python bench.py --check          # GPU preflight: build, driver, kernels, verdict per GPU
    python bench.py --peak           # this machine's sustained FP32 GEMM rate
    python bench.py plots            # regenerate plots and results/README.md

Each cell (scenario x impl x ctx x batch x repeat) runs in its own fresh process (harness.py),
so the implementations never share a process, a memory pool or a crash; every finished cell is
appended to <out>/runs.csv at once, and <out>/summary.md is regenerated. This file only
orchestrates: it holds no framework code.
"""
import argparse
import collections
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

import benchdata
import peak
import scenarios
from report import runs, summary
from shim import precision
from shim.contexts import ContextError, parse_list

ROOT = Path(__file__).resolve().parent
HARNESS = [sys.executable, str(ROOT / "harness.py")]
IMPLS = ("keras", "keras-graph", "gluon", "torch")
DEFAULT_BATCH_SIZES = "64,128,256,512"


class UsageError(Exception):
    """A user mistake: reported as one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see --help)")


def comma_list(allowed):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in allowed]
        if not items or bad:
            raise argparse.ArgumentTypeError(
                f"{(bad or [text])[0]!r} is not one of {', '.join(allowed)}")
        return items
    return parse


def positive_ints(text):
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of positive "
                                         "integers, e.g. 64,128")
    return values


def positive_int(text):
    if not text.strip().isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def contexts(text):
    try:
        return parse_list(text)
    except ContextError as error:
        raise argparse.ArgumentTypeError(str(error))


def parser():
    p = OneLineParser(description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", type=comma_list(tuple(scenarios.SCENARIOS)),
                   default=list(scenarios.SCENARIOS), help="lenet,rnn (default: both)")
    p.add_argument("--impl", type=comma_list(IMPLS), default=["keras", "gluon"],
                   help="keras,gluon[,keras-graph][,torch] (default: keras,gluon); keras-graph is "
                        "Keras's training graph in Gluon's training loop")
    p.add_argument("--ctx", type=contexts, action="append",
                   help="context spec(s): cpu, cpu:0-3, gpu:0, gpu:0-7, gpu:0,2,5; repeat the "
                        "flag or separate specs by spaces (default: cpu)")
    p.add_argument("--batch-sizes", type=positive_ints, default=positive_ints(DEFAULT_BATCH_SIZES),
                   help=f"global batch sizes (default: {DEFAULT_BATCH_SIZES})")
    p.add_argument("--epochs", type=positive_int, default=3,
                   help="epochs per cell, the first being the warm-up (default: 3, at least 2)")
    p.add_argument("--repeat", type=positive_int, default=1, help="repeats per cell (default: 1)")
    p.add_argument("--max-samples", type=positive_int,
                   help="use only the first N training and validation samples (quick runs)")
    p.add_argument("--dtype", choices=precision.DTYPES, default="float32",
                   help="float32, or bfloat16 mixed precision on CPU: MXNet's AMP for keras and "
                        "gluon, autocast for torch (default: float32)")
    p.add_argument("--data", choices=("real", "synthetic"), default="real")
    p.add_argument("--data-dir", help=f"where the data sets are (else ${benchdata.ENV_VAR}, "
                                      "else the per-user cache)")
    p.add_argument("--label", default=default_label(),
                   help="name of this machine's results folder (default: %(default)s)")
    p.add_argument("--out", help="results folder (default: results/<label>)")
    p.add_argument("--resume", action="store_true", help="skip cells already in runs.csv")
    p.add_argument("--seed", type=int, default=0, help="data order and synthetic data seed")
    p.add_argument("--cell-timeout", type=positive_int, default=3600,
                   help="seconds before a cell is stopped and marked failed (default: 3600)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--kvstore", choices=("device", "dist_sync"), default="device",
                   help="'device': one process per cell; 'dist_sync': MXNet's parameter server, "
                        "a local group of --workers and --servers processes per cell")
    p.add_argument("--workers", type=positive_int, default=2,
                   help="parameter-server workers (with --kvstore dist_sync; default 2)")
    p.add_argument("--servers", type=positive_int, default=1,
                   help="parameter servers (with --kvstore dist_sync; default 1)")
    p.add_argument("--profile", action="store_true",
                   help="record per-operator times over the timed epochs into operators.csv; "
                        "profiled cells are marked and kept out of the throughput tables")
    p.add_argument("--check", action="store_true",
                   help="GPU preflight only: build features, GPUs, kernels, verdicts")
    p.add_argument("--peak", action="store_true",
                   help="measure this machine's sustained FP32 matrix-multiply rate")
    return p


def default_label():
    """A description of the machine: CPU model and cores, or the GPUs."""
    cpu = cpu_model().replace("AMD ", "").replace("Intel(R) ", "").replace("(R)", "")
    words = "-".join(w for w in cpu.lower().replace("@", " ").split() if w not in ("cpu", "processor"))
    return f"{words or platform.machine()}-{os.cpu_count()}cores"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def plan(args):
    """Every cell of the sweep, in the order run: the two implementations interleave."""
    cells = []
    group = ({"kvstore": "dist_sync", "workers": args.workers} if args.kvstore == "dist_sync"
             else {"workers": 1})
    for repeat in range(1, args.repeat + 1):
        for name in args.scenario:
            for ctx in args.ctx:
                for batch in args.batch_sizes:
                    for impl in args.impl:
                        cells.append({
                            "scenario": name, "impl": impl, "ctx": ctx.spec, "batch_size": batch,
                            "repeat": repeat, "epochs": args.epochs, "data": args.data,
                            "data_dir": args.data_dir, "max_samples": args.max_samples,
                            "seed": args.seed, "quiet": args.quiet, "dtype": args.dtype,
                            **group, **({"profile": True} if args.profile else {}),
                        })
    return cells


def validate(args):
    args.ctx = [c for group in (args.ctx or [parse_list("cpu")]) for c in group]
    if args.epochs < 2:
        raise UsageError(f"--epochs {args.epochs}: need at least 2, the first epoch is a warm-up")
    workers = args.workers if args.kvstore == "dist_sync" else 1
    for ctx in args.ctx:
        parts = ctx.devices * workers
        for batch in args.batch_sizes:
            if batch % parts:
                over = f"{workers} workers x {ctx.devices} contexts" if workers > 1 else \
                    f"the {ctx.devices} contexts of {ctx.spec}"
                raise UsageError(f"--batch-sizes {batch}: a global batch must split evenly over "
                                 f"{over}; use a multiple of {parts}")
    if args.profile and args.kvstore == "dist_sync":
        raise UsageError("--profile runs in one process per cell; drop it or --kvstore dist_sync")
    if args.kvstore == "dist_sync" and "torch" in args.impl:
        raise UsageError("--impl torch has no parameter-server mode; drop it or --kvstore")
    if args.dtype == "bfloat16" and any(c.kind != "cpu" for c in args.ctx):
        raise UsageError("--dtype bfloat16 runs on CPU contexts only (MXNet's AMP has bfloat16 "
                         "kernels for the CPU alone); use --dtype float32 on GPUs")
    if "torch" in args.impl and any(c.kind != "cpu" or c.devices > 1 for c in args.ctx):
        raise UsageError("--impl torch runs on one CPU context only (--ctx cpu)")


def preflight(args):
    """Fail before any training: missing or corrupt data, unusable GPUs."""
    for name in args.scenario:
        try:
            benchdata.load(name, data=args.data, data_dir=args.data_dir, max_samples=1)
        except benchdata.DataError as error:
            raise UsageError(str(error))
    gpu_indices = sorted({i for c in args.ctx if c.kind == "gpu" for i in c.indices})
    if gpu_indices:
        from shim import gpu

        try:
            gpu.check(gpu_indices)
        except gpu.PreflightError as error:
            raise UsageError(str(error))
    return gpu_indices


def run_one(cell, timeout, echo=True):
    """Run one cell in a fresh process; returns (measured columns, None) or (None, reason).

    The cell's stderr (its per-epoch progress, warnings) is passed through to ours unless
    `echo` is off; its last lines are kept to explain a failure.
    """
    with tempfile.TemporaryDirectory() as tmp:
        result_path = Path(tmp) / "result.json"
        process = subprocess.Popen(HARNESS + [json.dumps(cell), str(result_path)], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env=cell_environment(cell))
        tail = collections.deque(maxlen=64)
        reader = threading.Thread(target=relay, args=(process.stderr, tail, echo), daemon=True)
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
            reader.join(timeout=5)
        if code == 0 and result_path.exists():
            return json.loads(result_path.read_text()), None
    log = b"".join(tail).decode(errors="replace").replace("\r", "\n").strip().splitlines()
    said = [line for line in log if line.startswith("cell failed:")]
    if said:
        return None, said[-1][len("cell failed: "):]
    last = f": {log[-1]}" if log else ""
    if code < 0:
        return None, f"killed by {signal.Signals(-code).name}{last}"
    return None, f"exit status {code}{last}"


def run_distributed(cell, args):
    """A cell on a local parameter-server group (distributed.py); same return as run_one."""
    import distributed

    try:
        return distributed.run_cell(cell, args.workers, args.servers, args.cell_timeout,
                                    env=cell_environment(cell)), None
    except distributed.DistributedError as error:
        return None, str(error)


def relay(stream, tail, echo):
    """Copy a child's stderr to ours as it comes, keeping its last chunks."""
    for chunk in iter(lambda: stream.read1(4096), b""):
        tail.append(chunk)
        if echo:
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()


def measure_peak(args):
    """Run peak.py in a process set up like a cell's; keep the result beside the runs."""
    out = Path(args.out or ROOT / "results" / args.label)
    done = subprocess.run([sys.executable, "-c", "import json, peak; "
                           "print(json.dumps(peak.measure_peak()))"], cwd=ROOT, text=True,
                          capture_output=True, env=cell_environment())
    if done.returncode:
        raise UsageError(f"peak measurement failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout)
    out.mkdir(parents=True, exist_ok=True)
    peak.save_peak(out / runs.PEAK_FILE, result)
    print(f"peak FP32 GEMM: {result['gflops']} GFLOP/s through mxnet "
          f"({result['numpy_gflops']} through numpy); saved in {out / runs.PEAK_FILE}")
    return 0


def omp_threads(cell=None):
    """OpenMP threads per process: this machine's cores shared out over what runs at once.

    MXNet runs each CPU context's operators on an engine thread of its own, and every worker of
    a local parameter-server group is a process of its own; each opens OpenMP teams (oneDNN, and
    the wheel's OpenMP build of OpenBLAS for the `dot` that keras-mxnet's Dense and LSTM use).
    With a team of every core per context, keras-mxnet on cpu:0-1 (2 cores) did not finish one
    epoch of 1024 samples in 45 s, an engine thread spinning in OpenBLAS's exec_blas (gdb), where
    with one thread each it trains at 1,225 samples/s; its CNN-LSTM on two local dist_sync
    workers spun for minutes likewise. One context in one process gets every core. Set
    OMP_NUM_THREADS yourself to override.
    """
    cores = os.cpu_count() or 1
    if cell is None:
        return cores
    spec = parse_list(cell["ctx"])[0]
    at_once = (spec.devices if spec.kind == "cpu" else 1) * int(cell.get("workers") or 1)
    return max(1, cores // at_once)


def cell_environment(cell=None):
    """Process-wide settings, the same for every implementation's cells; see omp_threads."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(omp_threads(cell)))
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")  # one 'backend activated' line per graph
    return env


def run_sweep(args):
    out = Path(args.out or ROOT / "results" / args.label)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / runs.RUNS_FILE
    gpu_indices = preflight(args)
    machine = machine_columns(args.label, gpus=gpu_names(gpu_indices))
    cells = plan(args)
    roof = runs.peak_gflops(out)
    done = (runs.done_keys(csv_path, profiled=args.profile) if args.resume and csv_path.exists()
            else set())
    todo = [c for c in cells if runs.cell_key(c) not in done]
    if len(todo) < len(cells):
        print(f"resuming: {len(cells) - len(todo)} of {len(cells)} cells already in {csv_path}")
    bar = tqdm(todo, desc="sweep", unit="cell", disable=args.quiet)
    failed = 0
    for cell in bar:
        bar.set_postfix_str(f"{cell['scenario']} {cell['impl']} {cell['ctx']} "
                            f"b{cell['batch_size']} r{cell['repeat']}")
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if cell.get("kvstore") == "dist_sync":
            measured, reason = run_distributed(cell, args)
        else:
            measured, reason = run_one(cell, args.cell_timeout, echo=not args.quiet)
        row = {key: cell[key] for key in ("scenario", "impl", "ctx", "batch_size", "epochs",
                                          "repeat", "data", "workers", "dtype", "max_samples")}
        devices = parse_list(cell["ctx"])[0].devices
        # Both sides reduce gradients over several local devices with kvstore 'device'.
        row.update(machine, started_at=started, devices=devices,
                   omp_threads=cell_environment(cell)["OMP_NUM_THREADS"],
                   kvstore=cell.get("kvstore") or ("device" if devices > 1 else ""))
        if args.profile:
            row["profiled"] = "yes"   # even when it failed: a profiled cell is never a timing
        if measured:
            operators = measured.pop("operators", None)
            if operators:
                runs.append_operators(out / runs.OPERATORS_FILE, row, operators)
            row.update(measured, status="ok", reason="")
            if roof:
                row["peak_fraction"] = round(measured["gflops_per_s"] / roof, 4)
        else:
            failed += 1
            row.update(status="failed", reason=reason)
            tqdm.write(f"cell failed: {cell['scenario']} {cell['impl']} {cell['ctx']} "
                       f"batch {cell['batch_size']}: {reason}")
        runs.append_row(csv_path, row)
        (out / "summary.md").write_text(summary.summary_markdown(runs.read_machine(out),
                                                                 title=args.label))
    print(f"{len(todo) - failed} cells ok, {failed} failed; rows in {csv_path}, "
          f"summary in {out / 'summary.md'}")
    return 0


def gpu_names(indices):
    if not indices:
        return ""
    from shim import gpu

    found = {g.index: g.name for g in gpu.driver_gpus()[0]}
    return "; ".join(f"gpu:{i} {found.get(i, '?')}" for i in indices)


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
        if args.check:
            from shim import gpu

            return gpu.main([])
        if args.peak:
            return measure_peak(args)
        validate(args)
        return run_sweep(args)
    except UsageError as error:
        print(f"bench.py: error: {error}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as stop:
        how, status = ("terminated", 143) if isinstance(stop, Terminated) else ("interrupted", 130)
        print(f"bench.py: {how}; finished cells are in runs.csv (use --resume)", file=sys.stderr)
        return status
    finally:
        signal.signal(signal.SIGTERM, on_sigterm)


if __name__ == "__main__":
    sys.exit(main())
