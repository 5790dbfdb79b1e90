"""One sweep per folder: the sweep holds an flock on <folder>/sweep.lock for its whole life; the
kernel drops it when the process dies, however it dies, so a stale lock cannot outlive a crash.
"""
import fcntl
import os
import time
from pathlib import Path

LOCK_FILE = "sweep.lock"

# Folders this process holds the lock of: flock locks belong to an open file, so a second open
# in the same process would see our own lock as another sweep's.
_held = {}


class FolderError(ValueError):
    """A folder a sweep cannot use; the message is one line, fit for users."""


def _key(folder):
    return os.path.realpath(folder)


def try_lock(folder, exclusive=True):
    """(fd, got): the folder's lock file, opened (created for an exclusive lock) and flock'ed
    without waiting; got is False while another process holds the lock. OSError when the file
    cannot be opened. The caller closes fd, which drops the lock."""
    fd = os.open(Path(folder) / LOCK_FILE, (os.O_RDWR | os.O_CREAT if exclusive else os.O_RDONLY)
                 | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return fd, True
    except BlockingIOError:
        return fd, False


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
        fd, got = try_lock(folder)
    except OSError as error:
        raise FolderError(_unwritable(folder, error)) from None
    if not got:
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
        fd, got = try_lock(folder, exclusive=False)
    except OSError:
        return None   # no lock file: no sweep has ever run here
    try:
        return None if got else _holder(fd)
    finally:
        os.close(fd)   # drops our shared lock too


def holds(folder):
    """Whether this process's own sweep holds `folder`."""
    return _key(folder) in _held
