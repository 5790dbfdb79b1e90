"""The runs.csv schema: its columns, the identity of a cell and the measurement method. bench.py
writes rows of these columns (report.storage.rows); the report reads them back."""
# The first block is the original, stable schema; the second adds provenance
# and the quantities needed for scaling, FLOP and environment reporting.
COLUMNS = [
    "scenario", "impl", "ctx", "devices", "batch_size", "epochs", "warmup_s", "epoch_s_median",
    "epoch_s_min", "epoch_s_max", "samples_per_s", "train_loss", "train_accuracy", "val_loss",
    "val_accuracy", "val_s", "peak_rss_mb", "data", "status", "reason", "started_at",
    "label", "repeat", "per_device_batch", "workers", "kvstore", "dtype", "train_samples",
    "val_samples", "flops_per_sample", "gflops_per_s", "peak_fraction", "loop_cpu_fraction",
    "param_check", "servers", "per_worker", "host", "python", "mxnet", "keras_mxnet", "numpy",
    "torch", "cpu", "cores", "gpus", "git_commit", "omp_threads", "max_samples", "process_env",
    "peak_device",
    # rounds (bench.py --rounds) and the machine's noise during each cell
    "round", "arm", "order", "load_avg_1m", "other_cpu_s", "steal_s", "ctx_switches",
    "cpu_mhz", "noise_flags", "canary_ms",
    # bench.py --profile
    "profiled", "profile_coverage",
    # the measurement method the row was taken with (METHOD below)
    "method",
    # keras-fused arms (shim/fused/): the fixes applied, the layers fused and those kept stock
    "fixes", "fused_layers", "kept_layers",
    # bench.py --threads: the OpenMP threads per context asked for ("all": cores / contexts)
    "threads",
    # bench.py --model FILE.py[:FUNCTION]: the user's model, its size, and the check that each
    # arm computes what stock Keras does before it is timed
    "model_file", "model_sha256", "parameters", "verified",
    # bench.py --method turns: the arm's epoch time in each turn, ';'-joined (storage.join_times)
    "epoch_s_turns",
]
# Without these a row cannot be placed in any table or plot.
ESSENTIAL = ["scenario", "impl", "ctx", "batch_size", "status", "samples_per_s", "epoch_s_median"]
INT_COLUMNS = {"devices", "batch_size", "epochs", "repeat", "per_device_batch", "workers",
               "servers", "train_samples", "val_samples", "cores", "omp_threads", "max_samples",
               "round", "order", "ctx_switches", "method", "parameters"}
FLOAT_COLUMNS = {"warmup_s", "epoch_s_median", "epoch_s_min", "epoch_s_max", "samples_per_s",
                 "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_s",
                 "peak_rss_mb", "flops_per_sample", "gflops_per_s", "peak_fraction",
                 "loop_cpu_fraction", "load_avg_1m", "other_cpu_s", "steal_s", "cpu_mhz",
                 "canary_ms", "profile_coverage"}
# Identity of a cell for --resume: two rows with the same key measured the same thing.
# The arm (e.g. gluon-control, which runs impl gluon) stands in for impl where there is one,
# and the round for repeat (rows from before rounds have only the repeat).
KEY_COLUMNS = ("scenario", "impl", "ctx", "batch_size", "repeat", "data",
               "workers", "dtype", "max_samples", "threads", "model_sha256")

# The measurement method: raised when a change to how cells are measured makes earlier rows
# incomparable with new ones; bench.py records it in every row (blank in rows from before 2).
#   1: rounds (rows with a `round`; before them, repeats run in a fixed order).
#   2: the Python thread opens no OpenMP team of its own (shim/arrays.py): before it, the Gluon
#      and keras-graph arms ran every operator with libgomp's throttled spin.
METHOD = 2
# Turns (--method turns, sweep/turns.py): current beside METHOD, never pooled with it (frame.GROUP)
TURNS_METHOD = 3

RUNS_FILE = "runs.csv"
PEAK_FILE = "peak.json"   # written by `bench.py --peak` beside runs.csv
OPERATORS_FILE = "operators.csv"   # written by `bench.py --profile` beside runs.csv
# One row per operator of a profiled cell: the cell's identity, then per-step figures over its
# timed epochs (harness.operator_rows). `round` is the cell's repeat number.
OPERATOR_COLUMNS = ["scenario", "impl", "ctx", "batch_size", "dtype", "max_samples", "round",
                    "operator", "calls_per_step", "ms_per_step", "share_of_step"]


class ReportError(ValueError):
    """A problem with the benchmark data; its message is one line, fit for users."""


def by_turns(row):
    return row.get("method") == TURNS_METHOD


def method_of(row):
    """A row's measurement method: recorded, else 1 for a row with a round, else 0."""
    if row.get("method") is not None:
        return row["method"]
    return 1 if row.get("round") is not None else 0


def threads_of(row):
    """The --threads setting a row ran under: a count per context, or 'all' (cores / contexts),
    as rows from before the column ran."""
    return str(row.get("threads") or "all")


def device_kind(ctx):
    """'gpu:0-7' -> 'gpu', 'cpu' -> 'cpu'."""
    return str(ctx).split(":")[0].strip().lower()


def cell_key(row):
    """The resume key of a row or of a planned cell (a dict with the KEY_COLUMNS); bench.py keys
    its planned cells with it too, so that defaults and types agree. Blanks read as the rows
    from before their column ran: one worker, real data, float32, no --model file (''). A cell
    measured by turns is another cell than the same arm's by rounds: its key ends in 'turns'."""
    repeat = row.get("round") if row.get("round") is not None else row.get("repeat")
    return (row["scenario"], row.get("arm") or row["impl"], row["ctx"], int(row["batch_size"]),
            None if repeat is None else int(repeat),
            row.get("data") or "real", int(row.get("workers") or 1),
            row.get("dtype") or "float32",
            None if row.get("max_samples") is None else int(row["max_samples"]),
            threads_of(row), row.get("model_sha256") or "") + (("turns",) if by_turns(row) else ())


def configuration_of(key):
    """A cell_key without its round: the configuration and arm, the same in every round."""
    return key[:4] + key[5:]
