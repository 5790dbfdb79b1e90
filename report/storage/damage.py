"""What keeps runs.csv whole through crashes and full disks.

- A cut last row (a power loss or a full disk mid-write) is moved to runs.csv.damaged and taken
  out of runs.csv by the next reader that may write the folder; damage anywhere else is refused,
  since a middle row cannot be cut by an append and guessing there would invent data.
- Rows are appended with os.write and fsync'ed; a failed append is truncated back, so the rows
  before it stay whole even when the disk fills up halfway through a row.
"""
import csv
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from report.storage.locks import holds, try_lock

DAMAGED_SUFFIX = ".damaged"


class DamagedRow(ValueError):
    """Damage in runs.csv before its last line; the message names the line."""


def append_synced(path, data):
    """Append `data` (bytes) with os.write and fsync it. On any error (ENOSPC, EIO, ...) the
    file is cut back to its old size before the error goes on, so no partial row stays."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass   # the reader's repair takes the cut row out instead
            raise
    finally:
        os.close(fd)


def replace_bytes(path, data):
    """Write `path` whole: the new file takes the old one's place only once complete and
    synced, so a failure (a full disk) leaves the old file as it was."""
    path = Path(path)
    tmp = path.with_name(path.name + ".writing")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _problem(line, columns):
    """Why a physical line of runs.csv is not a whole row of `columns` fields, or None."""
    if not line.endswith(b"\n"):
        return "cut (no end of line)"
    if b"\0" in line:
        return "holds NUL bytes"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    try:
        fields = next(csv.reader([text], strict=True), [])
    except csv.Error as error:
        return f"not CSV ({error})"
    if columns is not None and len(fields) != columns:
        return f"{len(fields)} fields where the header has {columns}"
    return None


def _damaged_last_line(path, data):
    """(line number, start offset, why) of a damaged last line; None when every line is whole;
    DamagedRow when the damage is anywhere else (never guessed at). Rows are one physical line
    each (rows._format_value keeps values on one line)."""
    columns, offset = None, 0
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        if line.strip(b"\r\n") or not line.endswith(b"\n"):   # csv skips blank lines too
            why = _problem(line, columns)
            if why and offset != data.rfind(b"\n", 0, len(data) - 1) + 1:
                raise DamagedRow(f"{path}:{number}: damaged row ({why}); only a cut last row "
                                 "is set aside by itself: remove or mend that line by hand")
            if why:
                return number, offset, why
            if columns is None:
                columns = len(next(csv.reader([line.decode("utf-8")])))
        offset += len(line)
    return None


def whole_text(path):
    """The text of runs.csv `path` up to its last whole row. A damaged last line is set aside
    (_set_aside) when no other sweep holds the folder; while one does, it is left alone (it may
    be the row that sweep is writing) and not read. Damage on any other line: DamagedRow."""
    path = Path(path)
    data = path.read_bytes()
    found = _damaged_last_line(path, data)
    if found is None:
        return data.decode("utf-8")
    if holds(path.parent):   # this process's own sweep
        return _set_aside(path, data, *found)
    try:
        fd, got = try_lock(path.parent)
    except OSError as error:   # a folder we may only read: read the whole rows, mend nothing
        print(f"{path}: line {found[0]} is a damaged row ({found[2]}), left in place and not "
              f"read ({error.strerror})", file=sys.stderr)
        return data[:found[1]].decode("utf-8")
    try:
        if not got:
            # A sweep holds the folder: the line may be the row it is writing this instant,
            # and only that sweep may change its file. Read the whole rows, touch nothing.
            return data[:found[1]].decode("utf-8")
        data = path.read_bytes()   # as it is now, under the lock
        found = _damaged_last_line(path, data)
        return data.decode("utf-8") if found is None else _set_aside(path, data, *found)
    finally:
        os.close(fd)


def _set_aside(path, data, number, start, why):
    """Append the damaged last line to <path>.damaged with the time, take it out of `path`
    (atomically), say so in one stderr line, and return the text of the whole rows."""
    damaged = path.with_name(path.name + DAMAGED_SUFFIX)
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    kept = data[start:]
    # The bytes first: a crash between the two steps then leaves the line in both files, and
    # the next reader sets it aside once more; never in neither.
    append_synced(damaged, f"# {when} {path.name} line {number} ({why}), {len(kept)} bytes:\n"
                  .encode() + kept + (b"" if kept.endswith(b"\n") else b"\n"))
    replace_bytes(path, data[:start])
    print(f"{path}: line {number} was a damaged row ({why}); its {len(kept)} bytes are kept in "
          f"{damaged.name} and the row is out of {path.name}; --resume measures its cell again",
          file=sys.stderr)
    return data[:start].decode("utf-8")
