"""Measure what the Keras API layer costs on top of MXNet Gluon.

    python bench.py --ctx cpu --impl keras,gluon --scenario lenet,rnn --batch-sizes 64,128
    python bench.py --ctx gpu:0-7 --impl keras,gluon
    python bench.py --check          # GPU preflight: build, driver, kernels, verdict per GPU
    python bench.py --peak           # this machine's sustained FP32 GEMM rate
    python bench.py plots            # regenerate plots and results/README.md

A round runs every arm (keras, gluon, ...; gluon-control with --control) of every configuration
(scenario x ctx x batch x threads) once, the arms of a configuration back to back in a shuffled
order. Each cell (configuration x arm x round) runs in its own fresh process (harness.py), so the
implementations never share a process, a memory pool or a crash; every finished cell is appended
to <out>/runs.csv at once, and <out>/summary.md and <out>/ratios.csv are regenerated. This file
only orchestrates: it holds no framework code.
"""
import collections
import itertools
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

import benchdata
import noise
from cell import arms as registry
import peak
import sweep_model
from report import frame, headline, ratios, readme, summary
from report import storage as record  # noqa: I001 -- record.X and runs.X are report.storage.X
from report import storage as runs
from shim.contexts import parse_list
from sweep_args import (UsageError, cpu_model, default_label, fused_arm, is_fused, parser,
                        threads_overridden, validate)

ROOT = Path(__file__).resolve().parent
HARNESS = [sys.executable, str(ROOT / "harness.py")]
RESULTS = ROOT / "results"


class SweepStopped(Exception):
    """The folder stopped taking what the sweep writes (a full disk, an I/O error): one line,
    exit status 1; the rows already written are whole and --resume continues."""


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


def arms(args):
    """(arm, implementation) pairs: one per --impl, plus the A/A control with --control (of
    keras for a --model sweep, which has no gluon arm)."""
    found = [(impl, impl) for impl in args.impl]
    if args.control:
        control = registry.control_for(args.model)
        found.append((control.name, control.runs))
    return found


def configurations(args):
    """Every configuration of the sweep (scenario x ctx x batch x threads; dtype and workers are
    one each), in the order run within a round. Each is a cell without its arm and round.

    The thread settings of a ctx and batch run one after the other, so that the per-core and
    the whole-machine answers of a round see about the same machine."""
    group = ({"kvstore": "dist_sync", "workers": args.workers} if args.kvstore == "dist_sync"
             else {"workers": 1})
    return [{"scenario": name, "ctx": ctx.spec, "batch_size": batch, "epochs": args.epochs,
             "data": args.data, "data_dir": args.data_dir, "max_samples": args.max_samples,
             "seed": args.seed, "quiet": args.quiet or not args.verbose, "dtype": args.dtype,
             "threads": threads, **group, **({"profile": True} if args.profile else {}),
             **sweep_model.cell_columns(args)}
            for name in args.scenario for ctx in args.ctx for batch in args.batch_sizes
            for threads in args.threads]


def round_cells(args, config, round_number):
    """The cells of one configuration in one round: its arms in an order shuffled afresh each
    round, seeded from --seed, the round and the configuration (so a resumed sweep replays it).

    Fixed orders bias: whichever arm runs second inherits the first one's heat, caches and
    neighbours (Abedi & Brecht, ICPE 2017); shuffling spreads that over both sides.
    """
    order = arms(args)
    name = f"{config['scenario']}-{config['ctx']}-{config['batch_size']}-{config['dtype']}-" \
           f"{config['workers']}"
    if runs.threads_of(config) != "all":   # 'all' keeps the shuffles of sweeps from before it
        name += f"-t{config['threads']}"
    random.Random(f"{args.seed}-{round_number}-{name}").shuffle(order)
    return [dict(config, impl=impl, arm=arm, round=round_number, repeat=round_number,
                 order=position, **({"fixes": list(fused_arm(arm)[1])} if is_fused(arm) else {}))
            for position, (arm, impl) in enumerate(order, start=1)]


def plan(args, rounds=None):
    """Every cell of the sweep's first `rounds` (default --rounds) rounds, in the order run;
    adaptive rounds (--target-ci) add more as the sweep goes."""
    return [cell for round_number in range(1, (rounds or args.rounds) + 1)
            for config in configurations(args) for cell in round_cells(args, config, round_number)]


def preflight(args):
    """Fail before any training: missing or corrupt data, unusable GPUs."""
    for name in [] if args.model else args.scenario:   # a --model sweep's data is synthetic
        try:
            benchdata.load(name, data=args.data, data_dir=args.data_dir, max_samples=1)
        except benchdata.DataError as error:
            raise UsageError(str(error))
    gpu_indices = sorted({i for c in args.ctx if c.kind == "gpu" for i in c.indices})
    if gpu_indices:
        from shim import gpu

        spec = "gpu:" + ",".join(map(str, gpu_indices))
        try:  # the static checks, then the smoke check in a child set up like a cell
            gpu.check(gpu_indices, smoke_env=cell_environment({"ctx": spec, "workers": 1}))
        except gpu.PreflightError as error:
            raise UsageError(str(error))
    return gpu_indices


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
                                   env=cell_environment(cell))
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
    log = text.replace("\r", "\n").strip().splitlines()
    said = [line for line in log if line.startswith("cell failed:")]
    if said:
        return None, said[-1][len("cell failed: "):]
    last = f": {log[-1]}" if log else ""
    if code < 0:
        return None, f"killed by {signal.Signals(-code).name}{last}"
    return None, f"exit status {code}{last}"


def run_distributed(cell, args, log_dir):
    """A cell on a parameter-server group (distributed.py), local or across --hosts; same return
    as run_one. Every local member's output goes to log_dir."""
    import distributed

    try:
        if args.hosts:
            return distributed.run_launched(cell, args.hosts, args.host_ip, args.workers,
                                            args.servers, args.cell_timeout,
                                            env=cell_environment(cell)), None
        return distributed.run_cell(cell, args.workers, args.servers, args.cell_timeout,
                                    env=cell_environment(cell), log_dir=log_dir), None
    except distributed.DistributedError as error:
        return None, str(error)


def relay(stream, log):
    """Copy a child's stderr to its log and to ours as it comes (--verbose)."""
    for chunk in iter(lambda: stream.read1(4096), b""):
        log.write(chunk)
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()


def measure_peak(args):
    """Run peak.py in a process set up like a cell's; keep the result beside the runs."""
    out = Path(args.out or RESULTS / (args.label or default_label()))
    done = subprocess.run([sys.executable, "-c", "import json, peak; "
                           "print(json.dumps(peak.measure_peak()))"], cwd=ROOT, text=True,
                          capture_output=True, env=cell_environment())
    if done.returncode:
        raise UsageError(f"peak measurement failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout)
    out.mkdir(parents=True, exist_ok=True)
    peak.save_peak(out / runs.PEAK_FILE, result)
    print(f"peak FP32 GEMM on the CPU: {result['gflops']} GFLOP/s through mxnet "
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
    workers spun for minutes likewise. One context in one process gets every core. That is
    --threads all; a count (--threads 1) is the team of every context of every process instead.
    MXNet's operators, the OpenMP build of OpenBLAS in its wheel and torch (torch_models/train.py)
    all take their threads from OMP_NUM_THREADS. Set OMP_NUM_THREADS yourself to override both.
    """
    cores = os.cpu_count() or 1
    if cell is None:
        return cores
    if runs.threads_of(cell) != "all":
        return int(cell["threads"])
    spec = parse_list(cell["ctx"])[0]
    at_once = (spec.devices if spec.kind == "cpu" else 1) * int(cell.get("workers") or 1)
    return max(1, cores // at_once)


# Process-wide settings bench.py gives every cell of every implementation (a value already in
# the environment wins, for all alike). cuDNN autotune 1 is MXNet's own default: convolutions
# get the fastest algorithm that fits MXNet's workspace limit, picked once per input shape in
# the first batches of that shape, all of which fall in the warm-up epoch (not timed). Keras and
# Gluon run the same convolution operator, so both get the same choice; 0 would time cuDNN's
# untuned default on both sides instead, which is not what either API gives its users.
PROCESS_SETTINGS = {
    "MXNET_CUDNN_AUTOTUNE_DEFAULT": "1",
    "MXNET_SUBGRAPH_VERBOSE": "0",  # one 'backend activated' line per graph, otherwise
    "PYTHONUNBUFFERED": "1",        # the cell's progress reaches us as it happens
}
# Inherited variables that change how fast the libraries run; recorded with the settings.
SPEED_VARIABLE_PREFIXES = ("MXNET_", "OMP_", "KMP_", "MKL_", "OPENBLAS_", "DNNL_", "ONEDNN_",
                           "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")


def cell_environment(cell=None):
    """Process-wide settings, the same for every implementation's cells; see omp_threads."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(omp_threads(cell)))
    for name, value in PROCESS_SETTINGS.items():
        env.setdefault(name, value)
    # mx.gpu(i) = nvidia-smi's i, as the preflight judged: forced, a user's FASTEST_FIRST would
    # make the cells open other GPUs than the preflight checked
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    return env


def process_env(env):
    """The runs.csv record of a cell's process-wide settings: 'NAME=value ...', sorted."""
    return " ".join(f"{name}={value}" for name, value in sorted(env.items())
                    if name in PROCESS_SETTINGS or name.startswith(SPEED_VARIABLE_PREFIXES))


def cell_name(cell):
    """A file name for a cell's log: lenet-keras-cpu_0-1-b128-float32-w1-tall-r2."""
    name = (f"{cell['scenario']}-{cell['arm']}-{cell['ctx']}-b{cell['batch_size']}-"
            f"{cell['dtype']}-w{cell['workers']}-t{runs.threads_of(cell)}-r{cell['round']}")
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)


def measure(cell, args, out, machine, measured_peak):
    """Run one cell with its noise record; returns (runs.csv row, wall seconds).

    The cell's output goes to a log of its own, kept in <out>/logs/ when the cell fails.
    """
    with tempfile.TemporaryDirectory() as tmp:
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        probe = noise.Probe()
        verified = sweep_model.verdict(args, cell)
        refused = verified not in ("", "yes")   # by the verification: never timed, no log
        if refused:
            measured, reason = None, f"not verified: {verified}"
        elif cell.get("kvstore") == "dist_sync":
            measured, reason = run_distributed(cell, args, Path(tmp))
        else:
            measured, reason = run_one(cell, args.cell_timeout, Path(tmp) / "cell.log",
                                       echo=args.verbose)
        record = probe.stop()
        if reason and not refused:
            logs = out / "logs" / cell_name(cell)
            shutil.copytree(tmp, logs, dirs_exist_ok=True)
            reason += f" (log: {logs.relative_to(out)})"
    row = {key: cell[key] for key in ("scenario", "impl", "ctx", "batch_size", "epochs", "repeat",
                                      "data", "workers", "dtype", "max_samples", "round", "arm",
                                      "order", "threads")}
    row.update({key: cell[key] for key in sweep_model.ROW_COLUMNS if key in cell},
               **({"verified": verified} if verified else {}))
    if cell.get("fixes") is not None:   # what the arm asked for, even when it failed
        row["fixes"] = "+".join(cell["fixes"])
    devices = parse_list(cell["ctx"])[0].devices
    # Both sides reduce gradients over several local devices with kvstore 'device'.
    environment = cell_environment(cell)
    row.update(machine, started_at=started, devices=devices, method=runs.METHOD,
               omp_threads=environment["OMP_NUM_THREADS"], process_env=process_env(environment),
               kvstore=cell.get("kvstore") or ("device" if devices > 1 else ""),
               **{k: v for k, v in record.items() if k != "wall_s"})
    if cell.get("profile"):
        row["profiled"] = "yes"   # even when it failed: a profiled cell is never a timing
    if measured:
        timed = measured.pop("epoch_s_timed", None)
        operators = measured.pop("operators", None)
        if operators:
            runs.append_operators(out / runs.OPERATORS_FILE, row, operators)
        row.update(measured, status="ok", reason="", noise_flags=noise.flags(record, timed))
        row.update(runs.fraction_of_peak(row, measured_peak))  # only against a peak of its device
    else:
        row.update(status="failed", reason=reason)
    return row, record["wall_s"]


def cell_what(cell):
    """A cell's configuration and arm, as the terminal names them: 'lenet keras cpu b128', and
    '... b128 1 thread' under --threads 1 (a count is named; all, the default, is not)."""
    threads = runs.threads_of(cell)
    what = f"{cell['scenario']} {cell['arm']} {cell['ctx']} b{cell['batch_size']}"
    if threads == "all":
        return what
    return f"{what} {threads} thread{'' if threads == '1' else 's'}"


def cell_line(row):
    """The one terminal line of a finished cell."""
    what = f"{cell_what(row)} round {row['round']} (#{row['order']})"
    if row["status"] != "ok":
        return f"cell failed: {what}: {row['reason']}"
    text = (f"{what}: {row['epoch_s_median']:.3f} s/epoch, {row['samples_per_s']:,.0f} "
            "samples/s")
    return text + (f" [noise: {row['noise_flags']}]" if row.get("noise_flags") else "")


def wide_configurations(args, configs, rows):
    """Indices of the configurations whose ratios' CI is still wider than --target-ci.

    Every pair of this sweep's arms counts except the A/A control (the noise floor is a
    measurement, not an answer); a configuration without a ratio (its arms never both finished,
    or it has a single arm) gets no more rounds: they would not narrow anything.
    """
    arm_names = {arm for arm, _ in arms(args)}
    pairs = [p for p in registry.pairs_for(arm_names)
             if set(p) <= arm_names and not registry.is_control(p[0])]
    mine = [r for r in rows if r.get("max_samples") == args.max_samples]
    wide = {(*r["group"], r["batch_size"]) for r in ratios.all_pairs(mine, pairs)
            if r["half_width"] is None or r["half_width"] > args.target_ci}
    # a planned configuration, keyed as the report keys its rows (thread setting and model too)
    planned = frame.records(frame.as_frame(configs))
    return [i for i, c in enumerate(planned) if tuple(c[k] for k in frame.LINE) in wide]


def earlier_rounds(out, args):
    """A planned cell whose configuration already has finished rows in `out`, or None.

    Ratios pair rows by round, so a new sweep that wrote its round 1 beside an earlier sweep's
    rounds would mix two sweeps in one ratio; only --resume continues a sweep."""
    if args.resume:
        return None
    found = {runs.configuration_of(k)
             for k in runs.done_keys(out / runs.RUNS_FILE, profiled=args.profile)}
    return next((c for c in plan(args, 1) if runs.configuration_of(runs.cell_key(c)) in found),
                None)


def older_method(out):
    """The oldest measurement method among `out`'s rows, if older than this bench.py's."""
    if not (out / runs.RUNS_FILE).is_file():
        return None
    oldest = min((runs.method_of(r) for r in runs.read_rows(out)), default=runs.METHOD)
    return oldest if oldest < runs.METHOD else None


def output_folder(args):
    """results/<label> or --out; a default label moves on to <label>-2, -3, ... past folders
    that hold an earlier sweep of these cells; a folder named by the user is refused then, and
    so is --resume of a sweep measured by an older method (report/runs.py, METHOD)."""
    if args.out or args.label:
        args.label = args.label or default_label()
        out = Path(args.out or RESULTS / args.label)
        hold(out, args)
        cell = earlier_rounds(out, args)
        if cell:
            raise UsageError(f"{out} already holds an earlier sweep's rounds of "
                             f"{cell_what(cell)}; add --resume to continue that sweep, or name a "
                             "new --label")
    else:
        base = default_label()
        for n in itertools.count(1):
            args.label = base if n == 1 else f"{base}-{n}"
            out = RESULTS / args.label
            # Decided under the folder's lock, so two sweeps started together never pick one
            # folder; a folder in use is another sweep's (with --resume: refused, it is ours).
            if not hold(out, args, refuse=args.resume):
                continue
            if not earlier_rounds(out, args):
                break
            record.release(out)
        if n > 1:
            print(f"{RESULTS / base} holds an earlier or a running sweep of these cells: this one "
                  f"writes {out} (--resume continues the earlier one)")
    older = older_method(out) if args.resume else None
    if older is not None:
        raise UsageError(f"{out} was measured by method {older}, this bench.py "
                         f"measures by method {runs.METHOD} (see report/runs.py): its rounds "
                         "would not compare with new ones; start a new sweep (--label)")
    return out


def hold(out, args, refuse=True):
    """Take `out`'s lock for this sweep (report/record.py), creating the folder and proving it
    writable; False when another sweep holds it, or with `refuse` one line naming that sweep."""
    try:
        holder = record.claim(out, command=args.command)
    except record.FolderError as error:
        raise UsageError(str(error))
    if holder and refuse:
        raise UsageError(f"{out} is in use by a running sweep ({holder}); wait for it to end, "
                         "or name another --label")
    return not holder


def run_sweep(args):
    gpu_indices = preflight(args)
    out = output_folder(args)  # created and locked only for a command that passed its preflight
    csv_path = out / runs.RUNS_FILE
    machine = machine_columns(args.label, gpus=gpu_names(gpu_indices))
    configs = configurations(args)
    measured_peak = runs.load_peak(out)
    args.verified = sweep_model.verify(args, lambda ctx: cell_environment({"ctx": ctx,
                                                                         "workers": 1}))
    done = (runs.done_keys(csv_path, profiled=args.profile) if args.resume and csv_path.exists()
            else set())
    # Adaptive rounds: at least 3 (or --rounds), then only where the CI is too wide.
    first_rounds = max(args.rounds, 3) if args.target_ci else args.rounds
    last_round = max(first_rounds, args.max_rounds) if args.target_ci else first_rounds
    planned = plan(args, first_rounds)
    skipped = sum(runs.cell_key(c) in done for c in planned)
    if skipped:
        print(f"resuming: {skipped} of {len(planned)} cells already in {csv_path}")
    bar = tqdm(total=len(planned) - skipped, desc="sweep", unit="cell", disable=args.quiet)
    start = time.monotonic()
    round_seconds = {}     # configuration -> wall time of its last round, to respect the budget
    counts = collections.Counter()
    budget_spent = False
    for round_number in range(1, last_round + 1):
        todo = range(len(configs))
        if round_number > first_rounds:
            todo = wide_configurations(args, configs, runs.read_rows(csv_path))
            bar.total += sum(len(arms(args)) for _ in todo)
            bar.refresh()
        for index in todo:
            cells = [c for c in round_cells(args, configs[index], round_number)
                     if runs.cell_key(c) not in done]
            if not cells:
                continue
            if args.budget_min and (time.monotonic() - start + round_seconds.get(index, 0)
                                    > args.budget_min * 60):
                budget_spent = True
                break
            began = time.monotonic()
            for cell in cells:
                bar.set_postfix_str(f"{cell_what(cell)} r{cell['round']}")
                try:
                    row, _ = measure(cell, args, out, machine, measured_peak)
                    counts[row["status"]] += 1
                    runs.append_row(csv_path, row)
                except OSError as error:
                    raise SweepStopped(f"{out}: the row of {cell_what(cell)} round "
                                       f"{cell['round']} was lost ({error.strerror or error}); "
                                       "the rows before it are whole: make room, then --resume")
                try:
                    rows = runs.read_machine(out)
                    # the tables only, between cells (the whole page costs 3x): the page at the end
                    record.replace_bytes(out / readme.SUMMARY_FILE, summary.summary_markdown(
                        rows, title=args.label).encode())
                    ratios.write_ratios_csv(out, rows, target=args.target_ci)
                except OSError as error:
                    raise SweepStopped(f"{out}: summary.md or ratios.csv could not be written "
                                       f"({error.strerror or error}); every row is in "
                                       f"{runs.RUNS_FILE}: make room, then --resume")
                bar.update()
                tqdm.write(cell_line(row))
            round_seconds[index] = time.monotonic() - began
        if budget_spent or not todo:
            break
    bar.close()
    if budget_spent:
        print(f"budget of {args.budget_min:g} min spent in round {round_number}; configurations "
              f"that missed the target say so in {out / ratios.RATIOS_FILE} (unstable)")
    print(f"{counts['ok']} cells ok, {counts['failed']} failed; rows in {csv_path}, ratios in "
          f"{out / ratios.RATIOS_FILE}, summary in {out / readme.SUMMARY_FILE}")
    rows = runs.read_machine(out)
    try:   # the folder's whole page: conclusions, operator profile and models beside the tables
        record.replace_bytes(out / readme.SUMMARY_FILE, readme.folder_page(out, rows).encode())
    except OSError as error:
        raise SweepStopped(f"{out}: summary.md could not be written ({error.strerror or error});"
                           f" every row is in {runs.RUNS_FILE}: `python -m report` writes it")
    table = headline.sweep_table(rows) if counts["ok"] else ""
    if table:   # the answer where it was measured, as pyperf and asv print theirs
        print(f"\n{headline.INTRO}\n\n{table}")
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
    except (UsageError, runs.ReportError) as error:
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
        record.release_all()   # in-process callers (tests) may start another sweep after
        signal.signal(signal.SIGTERM, on_sigterm)


if __name__ == "__main__":
    sys.exit(main())
