"""What the loaders share: the error type, where data and caches live, digests, atomic writes."""
import hashlib
import os
import pathlib
import stat
import tempfile

ENV_VAR = "KERAS_MXNET_BENCH_DATA"  # data directory, when --data-dir is not given
CACHE_ENV_VAR = "KERAS_MXNET_BENCH_CACHE"  # where the encoded IMDB arrays go (tests point it at a tmp dir)
OFFLINE_ENV_VAR = "KERAS_MXNET_BENCH_OFFLINE"  # "1": never download (tests, air-gapped machines)

# Appended to every "data not usable" message, so each one says how to get going.
HOW_TO_FIX = (
    f"point --data-dir or ${ENV_VAR} at a directory holding the files, "
    "or run with --data synthetic"
)


class DataError(Exception):
    """One-line, user-facing message: names the file/value, what was expected, how to fix."""


def user_cache_dir() -> pathlib.Path:
    """Per-user cache: ${XDG_CACHE_HOME:-~/.cache}/keras-mxnet-bench (downloads and encoded arrays)."""
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base).expanduser() / "keras-mxnet-bench"


def resolve_data_dir(data_dir=None) -> pathlib.Path:
    """--data-dir, else $KERAS_MXNET_BENCH_DATA, else the per-user cache."""
    chosen = data_dir or os.environ.get(ENV_VAR)
    return pathlib.Path(chosen).expanduser() if chosen else user_cache_dir()


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV_VAR, "").strip().lower() in ("1", "true", "yes")


def file_digest(path, algorithm="sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def writable_dir(path) -> bool:
    """A directory we may write into: it exists, we have access, and it has a write bit.

    The write-bit test matters for root: os.access says yes to root everywhere, but the shared
    data copy is laid out without write bits precisely so that nobody writes into it.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISDIR(mode) and bool(mode & 0o222) and os.access(path, os.W_OK | os.X_OK)


def atomic_write(path, write):
    """Call write(fileobj) on a temp file in path's directory, then rename it into place.

    A crash or a full disk leaves at worst a stray temp file, never a half-written `path`
    that a later run would take for a good one.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)  # reopen by name, so f.name is the temp path (a verify step may read it)
    try:
        with open(tmp, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide a shared cache from other users
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
