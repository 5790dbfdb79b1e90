"""The runs.csv interface: one row per finished benchmark cell.

bench.py appends rows with `append_row`; everything in `report` reads them
back with `read_rows`.  The column list below is the contract between the two.
"""
import csv
import io
import os
from pathlib import Path

from report import record

# The first block is the original, stable schema; the second adds provenance
# and the quantities needed for scaling, FLOP and environment reporting.
COLUMNS = [
    "scenario", "impl", "ctx", "devices", "batch_size", "epochs", "warmup_s",
    "epoch_s_median", "epoch_s_min", "epoch_s_max", "samples_per_s",
    "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_s",
    "peak_rss_mb", "data", "status", "reason", "started_at",
    "label", "repeat", "per_device_batch", "workers", "kvstore", "dtype",
    "train_samples", "val_samples", "flops_per_sample", "gflops_per_s",
    "peak_fraction", "loop_cpu_fraction", "param_check", "servers", "per_worker", "host", "python", "mxnet", "keras_mxnet",
    "numpy", "torch", "cpu", "cores", "gpus", "git_commit",
    "omp_threads", "max_samples", "process_env", "peak_device",
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
    # bench.py --method turns: the arm's epoch time in each turn, ';'-joined (report/turn_ratios.py)
    "epoch_s_turns",
]

# Without these a row cannot be placed in any table or plot.
ESSENTIAL = ["scenario", "impl", "ctx", "batch_size", "status",
             "samples_per_s", "epoch_s_median"]

INT_COLUMNS = {"devices", "batch_size", "epochs", "repeat", "per_device_batch",
               "workers", "servers", "train_samples", "val_samples", "cores",
               "omp_threads", "max_samples", "round", "order", "ctx_switches", "method",
               "parameters"}
FLOAT_COLUMNS = {"warmup_s", "epoch_s_median", "epoch_s_min", "epoch_s_max",
                 "samples_per_s", "train_loss", "train_accuracy", "val_loss",
                 "val_accuracy", "val_s", "peak_rss_mb", "flops_per_sample",
                 "gflops_per_s", "peak_fraction", "loop_cpu_fraction", "load_avg_1m",
                 "other_cpu_s", "steal_s", "cpu_mhz", "canary_ms", "profile_coverage"}

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


def by_turns(row):
    return row.get("method") == TURNS_METHOD


def method_of(row):
    """A row's measurement method: recorded, else 1 for a row with a round, else 0."""
    if row.get("method") is not None:
        return row["method"]
    return 1 if row.get("round") is not None else 0


RUNS_FILE = "runs.csv"
PEAK_FILE = "peak.json"   # written by `bench.py --peak` beside runs.csv
OPERATORS_FILE = "operators.csv"   # written by `bench.py --profile` beside runs.csv
# One row per operator of a profiled cell: the cell's identity, then per-step figures over its
# timed epochs (harness.operator_rows). `round` is the cell's repeat number.
OPERATOR_COLUMNS = ["scenario", "impl", "ctx", "batch_size", "dtype", "max_samples", "round",
                    "operator", "calls_per_step", "ms_per_step", "share_of_step"]


class ReportError(ValueError):
    """A problem with the benchmark data; its message is one line, fit for users."""


def workers_of(row):
    """Parameter-server workers; blank means a single, non-distributed process."""
    return row.get("workers") or 1


def data_of(row):
    """'real' or 'synthetic'; rows written before the column existed used real data."""
    return row.get("data") or "real"


def dtype_of(row):
    return row.get("dtype") or "float32"


def samples_of(row):
    """The --max-samples prefix a row trained on; 0 for the whole training set.

    A prefix changes what an epoch is, so rows of different prefixes are never compared."""
    return int(row.get("max_samples") or 0)


def threads_of(row):
    """The --threads setting a row ran under: a count per context, or 'all' (cores / contexts).
    Rows written before the column existed ran with 'all'."""
    return str(row.get("threads") or "all")


def model_hash_of(row):
    """The sha256 of a --model file ('' for the built-in scenarios): a changed file is a new
    configuration."""
    return row.get("model_sha256") or ""


def device_kind(ctx):
    """'gpu:0-7' -> 'gpu', 'cpu' -> 'cpu'."""
    return str(ctx).split(":")[0].strip().lower()


def cell_key(row):
    """The resume key of a row or of a planned cell (a dict with the KEY_COLUMNS).

    bench.py should build keys for its planned cells with this same function,
    so that defaults and types (ints for batch_size/repeat/workers) agree. A cell measured by
    turns is another cell than the same arm's by rounds: its key ends in 'turns'.
    """
    repeat = row.get("round") if row.get("round") is not None else row.get("repeat")
    return (row["scenario"], row.get("arm") or row["impl"], row["ctx"], int(row["batch_size"]),
            None if repeat is None else int(repeat),
            data_of(row), int(workers_of(row)), dtype_of(row),
            None if row.get("max_samples") is None else int(row["max_samples"]),
            threads_of(row), model_hash_of(row)) + (("turns",) if by_turns(row) else ())


def configuration_of(key):
    """A cell_key without its round: the configuration and arm, the same in every round."""
    return key[:4] + key[5:]


def _csv_path(path_or_dir):
    path = Path(path_or_dir)
    return path / RUNS_FILE if path.is_dir() else path


def _format_value(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest text that round-trips exactly
    # 'reason' and friends must stay on one line or the CSV stops being line-oriented.
    return " ".join(str(value).splitlines())


def append_row(path, row):
    """Append one row to a runs.csv, writing the header first if the file is new.

    Unknown keys raise ReportError; missing keys are written blank.  The row is
    appended and fsync'ed (record.append_synced), so a kill of the benchmark after
    this returns cannot lose it; an append that fails (a full disk) leaves no part of it.
    """
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise ReportError(f"append_row: unknown column(s) {', '.join(unknown)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        try:
            record.whole_text(path)   # a new row must not be glued to a cut one
        except record.DamagedRow as error:
            raise ReportError(str(error)) from None
    new_file = not path.exists() or path.stat().st_size == 0
    if not new_file:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
        if header != COLUMNS:
            if not set(header) <= set(COLUMNS):
                raise ReportError(f"{path}: header has columns report.runs.COLUMNS lacks; "
                                  "write to a new file")
            _upgrade_header(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if new_file:
        writer.writerow(COLUMNS)
    writer.writerow([_format_value(row.get(name)) for name in COLUMNS])
    record.append_synced(path, buffer.getvalue().encode("utf-8"))


def _upgrade_header(path):
    """Rewrite a runs.csv written before columns were added, in today's column order.

    The values are copied as text; the new file replaces the old one only once it is complete
    and synced, so a kill leaves one or the other.
    """
    with open(path, newline="") as f:
        old_rows = list(csv.DictReader(f))
    replace_csv(path, COLUMNS, old_rows)


def replace_csv(path, columns, rows):
    """Write `rows` (dicts) to the CSV file `path`, replacing it whole: the new file takes the
    old one's place only once it is complete and synced, so a kill leaves one or the other."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    tmp = path.with_name(path.name + ".writing")
    with open(tmp, "w", newline="") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _convert(name, text, path, line):
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    try:
        if name in INT_COLUMNS:
            number = float(text)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if name in FLOAT_COLUMNS:
            return float(text)
    except ValueError:
        raise ReportError(f"{path}:{line}: column {name!r} is not a number: {text!r}") from None
    return text


def _check_essential_values(row, path, line):
    # A failed cell has no timings, but every cell says what it was.
    required = ["scenario", "impl", "ctx", "batch_size", "status"]
    if row["status"] == "ok":
        required += ["samples_per_s", "epoch_s_median"]
    for name in required:
        if row[name] is None:
            raise ReportError(f"{path}:{line}: blank {name!r} in a row with status {row['status']!r}")


def read_rows(path_or_dir):
    """All rows of a runs.csv (or of <dir>/runs.csv), numbers converted, blanks -> None.

    Extra columns are kept as text; missing non-essential columns read as None;
    a missing essential column raises ReportError naming the file and the column.
    """
    path = _csv_path(path_or_dir)
    if not path.is_file():
        raise ReportError(f"{path}: no such file")
    if path.stat().st_size == 0:
        return []  # created, but killed before the first row: nothing measured yet
    try:
        text = record.whole_text(path)   # a cut last row is set aside (report/record.py)
        return _read_csv(path, text) if text else []
    except record.DamagedRow as error:   # damage before the last line: never guessed at
        raise ReportError(str(error)) from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise ReportError(f"{path}: not a readable CSV ({error})") from None


def _read_csv(path, text):
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [name for name in ESSENTIAL if name not in header]
        if missing:
            raise ReportError(f"{path}: missing essential column {missing[0]!r}")
        rows = []
        for raw in reader:
            line = reader.line_num
            row = {name: _convert(name, raw.get(name), path, line) for name in COLUMNS}
            _check_essential_values(row, path, line)
            for name in header:
                if name not in row and name is not None:
                    row[name] = raw[name] or None
            rows.append(row)
    return rows


def is_profiled(row):
    """A cell run under `bench.py --profile`: its timings include the profiler's cost."""
    return bool(row.get("profiled"))


def done_keys(path, include_failed=False, profiled=False):
    """Keys (see KEY_COLUMNS, built by cell_key) of the cells already in a runs.csv.

    By default only cells with status 'ok' count as done, so a resumed run
    retries the failed ones.  A missing file means nothing is done yet.
    Profiled and unprofiled cells are done separately: one never stands for the other.
    """
    if not _csv_path(path).is_file():
        return set()
    return {cell_key(row) for row in read_rows(path)
            if (include_failed or row["status"] == "ok") and is_profiled(row) == profiled}


def append_operators(path, cell, operators):
    """Append a profiled cell's operator rows to an operators.csv (header first if new), in
    one synced write, like append_row."""
    path = Path(path)
    new_file = not path.exists() or path.stat().st_size == 0
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=OPERATOR_COLUMNS, lineterminator="\n")
    if new_file:
        writer.writeheader()
    identity = {name: cell.get(name) for name in OPERATOR_COLUMNS[:6]}
    identity["round"] = cell.get("round", cell.get("repeat"))
    for operator in operators:
        writer.writerow({**identity, **{k: operator[k] for k in OPERATOR_COLUMNS[7:]}})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as f:
        f.write(buffer.getvalue())
        f.flush()
        os.fsync(f.fileno())


def read_operators(run_dir):
    """The rows of <run_dir>/operators.csv, numbers converted; [] when there is none."""
    path = Path(run_dir) / OPERATORS_FILE
    if not path.is_file():
        return []
    numbers = {"batch_size": int, "max_samples": int, "round": int, "calls_per_step": float,
               "ms_per_step": float, "share_of_step": float}
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in OPERATOR_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ReportError(f"{path}: missing column {missing[0]!r}")
        for raw in reader:
            row = dict(raw)
            for name, kind in numbers.items():
                try:
                    row[name] = kind(raw[name]) if raw[name] not in ("", None) else None
                except ValueError:
                    raise ReportError(f"{path}:{reader.line_num}: column {name!r} is not a "
                                      f"number: {raw[name]!r}") from None
            rows.append(row)
    return rows


def load_peak(run_dir):
    """The peak measured for this folder (`bench.py --peak`, cell/peak.py's format), or None."""
    from cell import peak  # the file's format is cell/peak.py's

    try:
        return peak.load_peak(Path(run_dir) / PEAK_FILE)
    except (OSError, ValueError):
        return None


def fraction_of_peak(row, measured):
    """{'peak_fraction', 'peak_device'} for a row with gflops_per_s, read against the peak
    `measured` (load_peak's) only when that peak was measured on the row's kind of device:
    a CPU GEMM rate is no roof for a GPU row. Otherwise {}."""
    from cell import peak

    if not measured or row.get("gflops_per_s") is None:
        return {}
    device = peak.device_of(measured)
    if device_kind(row["ctx"]) != device:
        return {}
    return {"peak_fraction": round(row["gflops_per_s"] / measured["gflops"], 4),
            "peak_device": device}


def read_machine(run_dir):
    """read_rows(run_dir), with the fraction of peak filled in where the row has none.

    A cell records peak_fraction only if peak.json existed when it ran; for the others it is
    their measured gflops_per_s over the peak measured on the same machine, whenever that was,
    if that peak was measured on the row's kind of device. A recorded fraction whose peak was
    another kind of device (rows written before `peak_device` existed had CPU peaks) is blanked.
    """
    rows = read_rows(run_dir)
    measured = load_peak(run_dir)
    for row in rows:
        if row.get("peak_fraction") is not None:
            row["peak_device"] = row.get("peak_device") or "cpu"
            if row["peak_device"] != device_kind(row["ctx"]):
                row["peak_fraction"] = row["peak_device"] = None
        if row.get("peak_fraction") is None:
            row.update(fraction_of_peak(row, measured))
    return rows
