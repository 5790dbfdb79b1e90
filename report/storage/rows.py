"""Reading and appending runs.csv (one row per finished cell) and operators.csv, and the peak
beside them. Appends go through report.storage.damage, so a kill or a full disk never leaves a
partial row."""
import csv
import io
from pathlib import Path

from report.storage import damage
from report.storage.schema import (COLUMNS, ESSENTIAL, FLOAT_COLUMNS, INT_COLUMNS, OPERATOR_COLUMNS,
                                   OPERATORS_FILE, PEAK_FILE, RUNS_FILE, ReportError, cell_key,
                                   device_kind)


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


def _csv_text(columns, rows, header, dicts=False):
    buffer = io.StringIO()
    writer = (csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
              if dicts else csv.writer(buffer, lineterminator="\n"))
    if header:
        writer.writerow(dict(zip(columns, columns)) if dicts else columns)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _is_new(path):
    return not path.exists() or path.stat().st_size == 0


def turn_times(row):
    """A row's epoch time in each turn (`epoch_s_turns`), in turn order; None for a row not
    measured by turns."""
    value = row.get("epoch_s_turns")
    if value in (None, ""):
        return None
    return [float(v) for v in (value if isinstance(value, (list, tuple))
                               else str(value).split(";"))]


def join_times(seconds):
    """The runs.csv text of per-turn epoch times: ';'-joined, to 0.1 ms as the other columns."""
    return ";".join(f"{round(s, 4):g}" for s in seconds)


def append_row(path, row):
    """Append one row (missing keys blank, unknown ones a ReportError) to a runs.csv, the header
    first if the file is new, in one synced append (damage.append_synced): a kill after this
    returns cannot lose it, and a failed append (a full disk) leaves no part of it."""
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise ReportError(f"append_row: unknown column(s) {', '.join(unknown)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        try:
            damage.whole_text(path)   # a new row must not be glued to a cut one
        except damage.DamagedRow as error:
            raise ReportError(str(error)) from None
    new_file = _is_new(path)
    if not new_file:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
        if header != COLUMNS:
            if not set(header) <= set(COLUMNS):
                raise ReportError(f"{path}: header has columns report.storage.COLUMNS lacks; "
                                  "write to a new file")
            # Written before columns were added: rewritten whole in today's order, values as text
            with open(path, newline="") as f:
                replace_csv(path, COLUMNS, list(csv.DictReader(f)))
    damage.append_synced(path, _csv_text(
        COLUMNS, [[_format_value(row.get(name)) for name in COLUMNS]], new_file))


def replace_csv(path, columns, rows):
    """Write `rows` (dicts) to the CSV file `path`, replacing it whole (damage.replace_bytes)."""
    damage.replace_bytes(path, _csv_text(columns, rows, True, dicts=True))


def _convert(name, text, path, line, floats=FLOAT_COLUMNS):
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    try:
        if name in INT_COLUMNS:
            number = float(text)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if name in floats:
            return float(text)
    except ValueError:
        raise ReportError(f"{path}:{line}: column {name!r} is not a number: {text!r}") from None
    return text


def read_rows(path_or_dir):
    """All rows of a runs.csv (or of <dir>/runs.csv), numbers converted, blanks -> None. Extra
    columns are kept as text; missing non-essential columns read as None; a missing essential
    column raises ReportError naming the file and the column."""
    path = _csv_path(path_or_dir)
    if not path.is_file():
        raise ReportError(f"{path}: no such file")
    if path.stat().st_size == 0:
        return []  # created, but killed before the first row: nothing measured yet
    try:
        text = damage.whole_text(path)   # a cut last row is set aside (damage.py)
        return _read_csv(path, text) if text else []
    except damage.DamagedRow as error:   # damage before the last line: never guessed at
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
            # A failed cell has no timings, but every cell says what it was.
            for name in ESSENTIAL if row["status"] == "ok" else ESSENTIAL[:5]:
                if row[name] is None:
                    raise ReportError(f"{path}:{line}: blank {name!r} in a row with status "
                                      f"{row['status']!r}")
            row.update({name: raw[name] or None for name in header
                        if name not in row and name is not None})
            rows.append(row)
    return rows


def done_keys(path, include_failed=False, profiled=False):
    """Keys (cell_key) of the cells already in a runs.csv; none for a missing file. Only cells
    with status 'ok' count as done by default, so a resumed run retries the failed ones.
    Profiled cells (`bench.py --profile`, their timings include the profiler's cost) and
    unprofiled ones are done separately: one never stands for the other."""
    if not _csv_path(path).is_file():
        return set()
    return {cell_key(row) for row in read_rows(path)
            if (include_failed or row["status"] == "ok") and bool(row.get("profiled")) == profiled}


def append_operators(path, cell, operators):
    """Append a profiled cell's operator rows to an operators.csv (header first if new), in
    one synced write, like append_row."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    identity = {name: cell.get(name) for name in OPERATOR_COLUMNS[:6]}
    identity["round"] = cell.get("round", cell.get("repeat"))
    damage.append_synced(path, _csv_text(
        OPERATOR_COLUMNS, [{**identity, **{k: operator[k] for k in OPERATOR_COLUMNS[7:]}}
                           for operator in operators], _is_new(path), dicts=True))


def read_operators(run_dir):
    """The rows of <run_dir>/operators.csv, numbers converted; [] when there is none."""
    path = Path(run_dir) / OPERATORS_FILE
    if not path.is_file():
        return []
    numbers = ["batch_size", "max_samples", "round", *OPERATOR_COLUMNS[8:]]
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in OPERATOR_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ReportError(f"{path}: missing column {missing[0]!r}")
        return [{**raw, **{name: _convert(name, raw[name], path, reader.line_num, numbers)
                           for name in numbers}} for raw in reader]


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
