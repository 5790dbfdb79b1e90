"""What keeps runs.csv whole through crashes, full disks and two sweeps at once.

- A cut last row (a power loss or a full disk mid-write) is moved to runs.csv.damaged and taken
  out of runs.csv by the next reader that may write the folder; damage anywhere else is refused,
  since a middle row cannot be cut by an append and guessing there would invent data.
- One sweep per folder: the sweep holds an flock on <folder>/sweep.lock for its whole life; the
  kernel drops it when the process dies, however it dies, so a stale lock cannot outlive a crash.
- Rows are appended with os.write and fsync'ed; a failed append is truncated back, so the rows
  before it stay whole even when the disk fills up halfway through a row.
"""
import csv
import fcntl
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

LOCK_FILE = "sweep.lock"
DAMAGED_SUFFIX = ".damaged"

# Folders this process holds the lock of: flock locks belong to an open file, so a second open
# in the same process would see our own lock as another sweep's.
_held = {}


class FolderError(ValueError):
    """A folder a sweep cannot use; the message is one line, fit for users."""


class DamagedRow(ValueError):
    """Damage in runs.csv before its last line; the message names the line."""


def _lock_path(folder):
    return Path(folder) / LOCK_FILE


def _key(folder):
    return os.path.realpath(folder)


def _holder(fd):
    """'pid N: command' as the holder wrote it into the lock file.

    The holder writes it just after taking the lock, so a reader that comes in between sees
    nothing yet, or the words of a sweep that died without clearing them: it looks again for
    up to a second until they name a live process."""
    for _ in range(100):
        try:
            text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        except OSError:
            text = ""
        pid, _, command = text.partition(" ")
        if pid.isdigit() and _alive(int(pid)):
            return f"pid {pid}: {command}"
        time.sleep(0.01)
    return "pid unknown"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass   # another user's process: alive
    return True


def claim(folder, command):
    """Create `folder` if need be, prove it writable and take its lock for this process.

    Returns None once held (also if this process holds it already), or 'pid N: command' of
    the sweep that holds it. Raises FolderError when the folder cannot be created or written.
    """
    folder = Path(folder)
    if _key(folder) in _held:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(_lock_path(folder), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise FolderError(_unwritable(folder, error)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        return holder
    try:
        # Writing the lock file is the write test: the rows go beside it.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        os.fsync(fd)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        csv_file = folder / "runs.csv"
        if csv_file.exists():
            os.close(os.open(csv_file, os.O_WRONLY | os.O_APPEND))
    except OSError as error:
        os.close(fd)
        raise FolderError(_unwritable(folder, error)) from None
    _held[_key(folder)] = fd
    return None


def _unwritable(folder, error):
    return (f"{folder}: cannot create or write the results folder ({error.strerror or error}); "
            "name a writable one with --out or --label")


def release(folder):
    fd = _held.pop(_key(folder), None)
    if fd is not None:
        _let_go(fd)


def release_all():
    for key in list(_held):
        _let_go(_held.pop(key))


def _let_go(fd):
    try:
        os.ftruncate(fd, 0)   # no words of a sweep that is over
    except OSError:
        pass
    os.close(fd)   # closing drops the flock


def running(folder):
    """'pid N: command' of a sweep that holds `folder`'s lock now, else None (and None for the
    sweep of this very process)."""
    if _key(folder) in _held:
        return None
    try:
        fd = os.open(_lock_path(folder), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None   # no lock file: no sweep has ever run here
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return _holder(fd)
    finally:
        os.close(fd)   # drops our shared lock too


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


def _first_problem(data):
    """(line number, start offset, why) of the first line of `data` that is not whole, or None.

    Rows are one physical line each (runs._format_value keeps values on one line)."""
    columns, offset = None, 0
    for number, line in enumerate(data.splitlines(keepends=True), start=1):
        if line.strip(b"\r\n") or not line.endswith(b"\n"):   # csv skips blank lines too
            why = _problem(line, columns)
            if why:
                return number, offset, why
            if columns is None:
                columns = len(next(csv.reader([line.decode("utf-8")])))
        offset += len(line)
    return None


def _damaged_last_line(path, data):
    """(line number, offset, why) of a damaged last line; None when every line is whole;
    DamagedRow when the damage is anywhere else (never guessed at)."""
    found = _first_problem(data)
    if found is not None and found[1] != _last_line_start(data):
        raise DamagedRow(_middle(path, found[0], found[2]))
    return found


def whole_text(path):
    """The text of runs.csv `path` up to its last whole row, repairing a damaged last line.

    A damaged last line is appended to <path>.damaged with the time, taken out of the file
    (atomically) and reported in one stderr line, when no other sweep holds the folder; while
    one does, it is left alone (it may be the row that sweep is writing) and not read.
    Damage on any other line raises DamagedRow naming the line.
    """
    path = Path(path)
    data = path.read_bytes()
    found = _damaged_last_line(path, data)
    if found is None:
        return data.decode("utf-8")
    number, start, why = found
    if _key(path.parent) in _held:   # this process's own sweep
        _set_aside(path, data, number, start, why)
        return data[:start].decode("utf-8")
    try:
        fd = os.open(path.parent / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:   # a folder we may only read: read the whole rows, mend nothing
        print(f"{path}: line {number} is a damaged row ({why}), left in place and not read "
              f"({error.strerror})", file=sys.stderr)
        return data[:start].decode("utf-8")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # A sweep holds the folder: the line may be the row it is writing this instant,
            # and only that sweep may change its file. Read the whole rows, touch nothing.
            return data[:start].decode("utf-8")
        data = path.read_bytes()   # as it is now, under the lock
        found = _damaged_last_line(path, data)
        if found is None:
            return data.decode("utf-8")
        number, start, why = found
        _set_aside(path, data, number, start, why)
        return data[:start].decode("utf-8")
    finally:
        os.close(fd)


def _last_line_start(data):
    return data.rfind(b"\n", 0, len(data) - 1) + 1


def _middle(path, number, why):
    return (f"{path}:{number}: damaged row ({why}); only a cut last row is set aside by "
            "itself: remove or mend that line by hand")


def _set_aside(path, data, number, start, why):
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

