"""bench.py's command line: its arguments, their one-line errors, and the checks of a sweep's
arguments against each other (validate), all before anything is measured. Bad input raises
UsageError, which bench.py reports in one line with exit status 2."""
import argparse
import os
import platform
from pathlib import Path
from types import SimpleNamespace

import benchdata
import scenarios
from cell import arms
from shim import precision
from shim.contexts import ContextError, parse_list

# The arms --impl names (cell/arms.py); keras-fused[:FIX+FIX] besides, each such arm an
# implementation of its own in the rows (impl = arm), so that tables, plots and profiles keep the
# single-fix arms apart.
IMPLS = arms.SELECTABLE
FUSED = arms.FUSED
DEFAULT_BATCH_SIZES = "64,128,256,512"
# --model: the arms that need no hand-written twin of the model
MODEL_DEFAULT_IMPLS = tuple(a.name for a in arms.ARMS if a.model_default)
MODEL_SAMPLES = 1024


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


def impl_list(text):
    """--impl: IMPLS and keras-fused[:FIX+FIX] arms, each named canonically (fused_arm), once."""
    found = []
    for item in [t.strip() for t in text.split(",") if t.strip()] or [text]:
        if arms.is_fused(item):
            item = fused_arm(item)[0]
        elif item not in IMPLS:
            raise argparse.ArgumentTypeError(
                f"{item!r} is not one of {', '.join(IMPLS)}, {FUSED}[:FIX+FIX]")
        if item not in found:
            found.append(item)
    return found


is_fused = arms.is_fused


def fused_arm(text):
    """'keras-fused[:FIX+FIX]' -> (arm, fixes): fixes in shim.fused.FIXES order, and the arm with
    every fix named plain keras-fused, so that one arm has one name in every sweep's rows.

    shim.fused is imported here only, when an arm names it: it is the one list of the fixes and
    of their names, and bench.py itself never imports keras or mxnet.
    """
    from shim import fused

    _, _, spec = text.partition(":")
    try:
        chosen = set(fused.parse(spec))
    except ValueError as error:   # names the bad fix and the accepted ones
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None
    fixes = tuple(name for name in fused.FIXES if name in chosen)
    return arms.fused_arm_name(fixes, tuple(fused.FIXES)), fixes


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


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of minutes")
    return value


def fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a relative half-width between 0 and 1 "
                                         "(exclusive), e.g. 0.03 for +-3%")
    return value


def thread_settings(text):
    """--threads: OpenMP threads per context, each a count from 1 to this machine's cores or
    'all' (sweep/environment.py, omp_threads), once each; kept as text, as runs.csv's `threads`
    holds them."""
    cores = os.cpu_count() or 1
    found = []
    for item in [t.strip() for t in text.split(",") if t.strip()] or [text]:
        if item.lower() != "all" and not (item.isdecimal() and 1 <= int(item) <= cores):
            raise argparse.ArgumentTypeError(
                f"{item!r} is not a thread count from 1 to this machine's {cores} cores, or all")
        setting = "all" if item.lower() == "all" else str(int(item))   # '01' is 1
        if setting in found:
            raise argparse.ArgumentTypeError(f"{text!r} names {setting} twice")
        found.append(setting)
    return found


METHODS = ("turns", "rounds")


def methods(text):
    """--method: turns and/or rounds, once each (docs/methodology.md: Turns); an axis like
    --threads, so that one sweep can measure by both, side by side."""
    found = [item.strip().lower() for item in text.split(",") if item.strip()]
    for item in found:
        if item not in METHODS:
            raise argparse.ArgumentTypeError(f"{item!r} is not a method: turns or rounds")
    if not found or len(set(found)) < len(found):
        raise argparse.ArgumentTypeError(f"{text!r}: turns, rounds or turns,rounds")
    return found


def contexts(text):
    try:
        return parse_list(text)
    except ContextError as error:
        raise argparse.ArgumentTypeError(str(error))


def parser():
    p = OneLineParser(description="Measure what the Keras API layer costs on top of MXNet Gluon "
                                  "(bench.py).",
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", type=comma_list(tuple(scenarios.SCENARIOS)),
                   help="lenet,rnn (default: both)")
    p.add_argument("--model", metavar="FILE.py[:FUNCTION]",
                   help="your own Keras model instead of a scenario: FUNCTION (default: build) "
                        "returns it compiled; it trains on synthetic data shaped from it, and "
                        "each arm is verified against keras before it is timed "
                        "(docs/your-model.md)")
    p.add_argument("--impl", type=impl_list,
                   help="keras,gluon[,keras-graph][,keras-fused][,torch] (default: keras,gluon; "
                        f"with --model: {','.join(MODEL_DEFAULT_IMPLS)}); "
                        "keras-graph is Keras's training graph in Gluon's training loop; "
                        "keras-fused is Keras with the opt-in fused path (shim/fused/), "
                        "keras-fused:bias+rnn with some of its fixes")
    p.add_argument("--ctx", type=contexts, action="append",
                   help="context spec(s): cpu, cpu:0-3, gpu:0, gpu:0-7, gpu:0,2,5; repeat the "
                        "flag or separate specs by spaces (default: cpu)")
    p.add_argument("--batch-sizes", type=positive_ints, default=positive_ints(DEFAULT_BATCH_SIZES),
                   help=f"global batch sizes (default: {DEFAULT_BATCH_SIZES})")
    p.add_argument("--threads", type=thread_settings, default=["all"],
                   help="OpenMP threads per context, a configuration axis like --batch-sizes: "
                        "counts and/or all, e.g. 1,all (default: all, the cores shared out over "
                        "the contexts or local workers); OMP_NUM_THREADS, if set, wins")
    p.add_argument("--epochs", type=positive_int, default=3,
                   help="epochs per cell, the first being the warm-up (default: 3, at least 2)")
    p.add_argument("--rounds", "--repeat", dest="rounds", type=positive_int, default=1,
                   help="rounds: each runs every arm of every configuration once, by turns or "
                        "back to back in a shuffled order (--method; default: 1; a CI needs "
                        "2; --repeat is an alias)")
    p.add_argument("--method", type=methods,
                   help="turns: every arm of a configuration alive at once, one epoch each per "
                        "turn in a shuffled order (the default); rounds: each arm's cell a "
                        "process of its own, back to back (the default with --kvstore "
                        "dist_sync, which has no turns); turns,rounds: both, side by side")
    p.add_argument("--control", action="store_true",
                   help="add the A/A arm gluon-control: the Gluon cell a second time in every "
                        "round, whose ratio to gluon is the machine's noise floor")
    p.add_argument("--target-ci", type=fraction,
                   help="adaptive rounds: after at least 3 rounds (or --rounds), add rounds to "
                        "the configurations whose 95%% CI half-width is still wider than this "
                        "(relative, e.g. 0.03 = +-3%%)")
    p.add_argument("--budget-min", type=positive_float,
                   help="stop starting rounds once this many minutes would be exceeded")
    p.add_argument("--max-rounds", type=positive_int, default=20,
                   help="with --target-ci, at most this many rounds (default: 20)")
    p.add_argument("--max-samples", type=positive_int,
                   help="use only the first N training and validation samples (quick runs; "
                        f"with --model: N synthetic samples of each, default {MODEL_SAMPLES})")
    p.add_argument("--dtype", choices=precision.DTYPES, default="float32",
                   help="float32, or bfloat16 mixed precision on CPU: MXNet's AMP for keras and "
                        "gluon, autocast for torch (default: float32)")
    p.add_argument("--data", choices=("real", "synthetic"), default="real")
    p.add_argument("--data-dir", help=f"where the data sets are (else ${benchdata.ENV_VAR}, "
                                      "else the per-user cache)")
    p.add_argument("--label", help=f"name of this sweep's results folder (default: "
                                   f"{default_label()}, or {default_label()}-2, -3, ... where "
                                   "an earlier sweep's rounds already are)")
    p.add_argument("--out", help="results folder (default: results/<label>)")
    p.add_argument("--resume", action="store_true", help="skip cells already in runs.csv")
    p.add_argument("--seed", type=int, default=0, help="data order and synthetic data seed")
    p.add_argument("--cell-timeout", type=positive_int, default=3600,
                   help="seconds before a cell is stopped and marked failed (default: 3600)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true",
                   help="show every cell's own output (progress, library notices) on the "
                        "terminal too; by default it goes to the cell's log only")
    p.add_argument("--kvstore", choices=("device", "dist_sync"), default="device",
                   help="'device': one process per cell; 'dist_sync': MXNet's parameter server, "
                        "a local group of --workers and --servers processes per cell")
    p.add_argument("--workers", type=positive_int, default=2,
                   help="parameter-server workers (with --kvstore dist_sync; default 2)")
    p.add_argument("--servers", type=positive_int, default=1,
                   help="parameter servers (with --kvstore dist_sync; default 1)")
    p.add_argument("--hosts", help="with --kvstore dist_sync: run each cell across the hosts "
                                   "listed in this file through MXNet's launcher over ssh "
                                   "(docs/distributed.md); needs --host-ip")
    p.add_argument("--host-ip", help="this host's address on the hosts' network (the scheduler's)")
    p.add_argument("--profile", action="store_true",
                   help="record per-operator times over the timed epochs into operators.csv; "
                        "profiled cells are marked and kept out of the throughput tables")
    p.add_argument("--check", action="store_true",
                   help="GPU preflight only: build features, GPUs, kernels, verdicts")
    p.add_argument("--peak", action="store_true",
                   help="measure this machine's sustained FP32 matrix-multiply rate on the CPU "
                        "(the roof of CPU rows only)")
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


def validate(args):
    args.ctx = [c for group in (args.ctx or [parse_list("cpu")]) for c in group]
    if args.model:
        validate_model(args)
    else:
        args.scenario = args.scenario or list(scenarios.SCENARIOS)
        args.impl = args.impl or ["keras", "gluon"]
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
    for ctx in args.ctx:
        for batch in args.batch_sizes:
            for name in args.scenario:
                refuse_tiny_last_batch(SimpleNamespace(**args.model_info) if args.model else
                                       scenarios.get(name), args, ctx, batch)
    if args.kvstore == "dist_sync" and not args.hosts and any(c.kind == "gpu"
                                                               for c in args.ctx):
        raise UsageError("--kvstore dist_sync runs every worker on this machine, where they would "
                         "all train on the same GPUs; use --ctx cpu with it, or one worker per "
                         "host (python -m shim.launch, see docs/distributed.md)")
    if args.hosts and not (args.kvstore == "dist_sync" and args.host_ip):
        raise UsageError(f"--hosts {args.hosts}: needs --kvstore dist_sync and --host-ip")
    if args.hosts and not os.path.isfile(args.hosts):
        raise UsageError(f"--hosts {args.hosts}: no such file")
    if args.method is None:   # dist_sync runs a group of processes per cell: no turns there
        args.method = ["rounds"] if args.kvstore == "dist_sync" else ["turns"]
    if "turns" in args.method and args.kvstore == "dist_sync":
        raise UsageError("--method turns runs each arm in one process; --kvstore dist_sync keeps "
                         "--method rounds")
    if args.profile and args.kvstore == "dist_sync":
        raise UsageError("--profile runs in one process per cell; drop it or --kvstore dist_sync")
    for arm in (a for a in args.impl if args.kvstore == "dist_sync" and not arms.get(a).dist_sync):
        raise UsageError(f"--impl {arm} has no parameter-server mode; drop it or --kvstore")
    if args.dtype == "bfloat16" and any(c.kind != "cpu" for c in args.ctx):
        raise UsageError("--dtype bfloat16 runs on CPU contexts only (MXNet's AMP has bfloat16 "
                         "kernels for the CPU alone); use --dtype float32 on GPUs")
    if args.dtype == "bfloat16" and precision.bfloat16_kernels() is False:
        raise UsageError("--dtype bfloat16 needs a CPU with AVX-512 (oneDNN's bfloat16 "
                         "kernels) and this one has none; use --dtype float32")
    for arm in (a for a in args.impl if arms.get(a).one_cpu_only):
        if any(c.kind != "cpu" or c.devices > 1 for c in args.ctx):
            raise UsageError(f"--impl {arm} runs on one CPU context only (--ctx cpu)")
    control = arms.control_for(args.model).control_of   # the arm the A/A control runs twice
    if args.control and control not in args.impl:
        raise UsageError(f"--control runs the {control} arm twice per round; add {control} to "
                         "--impl")
    # An arm measured against others (keras-fused: against keras, what it gives back, or gluon,
    # what remains) forms none of its ratios (cell/arms.py) alone, or beside torch alone.
    for arm in args.impl:
        needs = arms.get(arm).measured_against
        if needs and not {other for other, _ in needs} & set(args.impl):
            raise UsageError(f"--impl {arm} is measured against "
                             + " or ".join(f"{other} ({why})" for other, why in needs)
                             + f"; add {' or '.join(other for other, _ in needs)} to --impl")


def threads_overridden(args):
    """The line saying that the user's own OMP_NUM_THREADS overrides --threads, or ''.

    A value already in the environment wins for every cell alike (sweep/environment.py), so a
    sweep of --threads 1,all would then time one setting twice under two names."""
    mine = os.environ.get("OMP_NUM_THREADS")
    if mine is None or args.threads == ["all"]:
        return ""
    return (f"note: OMP_NUM_THREADS={mine} in the environment overrides --threads "
            f"{','.join(args.threads)}: every cell runs with {mine} (runs.csv: omp_threads), "
            "under the setting asked for (threads)")


def validate_model(args):
    """--model: its arms and settings, then the model itself, checked in a child process
    (sweep/model.py, describe) before any training and before a results folder exists."""
    from sweep import model as sweep_model

    if args.scenario:
        raise UsageError("--model and --scenario: a sweep measures a scenario or your model, "
                         "not both; drop one")
    args.impl = args.impl or list(MODEL_DEFAULT_IMPLS)
    twin = next((arm for arm in args.impl if arms.get(arm).scenario_only), None)
    if twin:
        usable = [a for a in MODEL_DEFAULT_IMPLS if a != FUSED]
        raise UsageError(f"--impl {twin} needs a scenario (its model is written by hand in "
                         f"{arms.get(twin).module.partition('.')[0]}/); with --model use "
                         f"{', '.join(usable)}, {FUSED}[:FIX+FIX]")
    if args.kvstore == "dist_sync":
        raise UsageError("--model runs one process per cell; drop --kvstore dist_sync")
    args.data, args.max_samples = "synthetic", args.max_samples or MODEL_SAMPLES
    try:
        info = sweep_model.describe(args.model)
    except sweep_model.ModelRefused as error:
        raise UsageError(str(error))
    # what refuse_tiny_last_batch reads of a scenario: as many validation as training samples
    args.model_info = dict(info, train_samples=args.max_samples, val_samples=args.max_samples)
    args.scenario = [info["name"]]


def refuse_tiny_last_batch(scenario, args, ctx, batch):
    """An epoch's last batch with fewer samples than contexts cannot be split on either side
    (keras-mxnet: "Too many slices. Some splits are empty"; Gluon's split_and_load: an
    MXNetError), so such a sweep is refused rather than recorded as failed cells. Training under
    dist_sync is cut to whole global batches (distributed.py); validation predicts every sample.
    """
    sets = [("validation", scenario.val_samples)]
    if args.kvstore != "dist_sync":
        sets.insert(0, ("training", scenario.train_samples))
    for what, full in sets:
        n = min(full, args.max_samples or full)
        left = n % batch
        if 0 < left < ctx.devices:
            fix = (f"use --max-samples {args.max_samples - left}" if args.max_samples and
                   args.max_samples < full else "use another batch size")
            raise UsageError(
                f"--batch-sizes {batch} on {ctx.spec}: {scenario.name}'s {n} {what} samples leave "
                f"a last batch of {left} for {ctx.devices} contexts, which neither side can "
                f"split; {fix}")
