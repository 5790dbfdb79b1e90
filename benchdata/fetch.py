"""Downloads into the per-user cache: temp file, progress bar, verify, then rename."""
import http.client
import os
import pathlib
import urllib.request

from tqdm import tqdm

from .common import DataError, OFFLINE_ENV_VAR, atomic_write, offline

TIMEOUT_S = 30


def download(urls, dest, verify, enabled=True):
    """Fetch `dest` from the first of `urls` that gives a file passing verify(path).

    verify raises DataError for a bad file. Only a verified file is renamed to `dest`, so a
    broken or interrupted download never sits where a later run would find it. Raises
    DataError with the reason for each URL when none works.
    """
    if not enabled:
        raise DataError("downloads disabled (download=False)")
    if offline():
        raise DataError(f"downloads disabled (${OFFLINE_ENV_VAR}=1)")
    dest = pathlib.Path(dest)
    reasons = []
    for url in urls:
        try:
            atomic_write(dest, lambda f: _copy_verified(url, f, verify))
            return dest
        except (OSError, http.client.HTTPException, DataError) as e:  # URLError is an OSError
            reasons.append(f"{url}: {e}")
    raise DataError("download failed: " + "; ".join(reasons))


def _copy_verified(url, f, verify):
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
        total = int(r.headers.get("Content-Length") or 0) or None
        # disable=None: a bar on a terminal, silence in CI logs.
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], disable=None) as bar:
            for block in iter(lambda: r.read(1 << 20), b""):
                f.write(block)
                bar.update(len(block))
    f.flush()
    os.fsync(f.fileno())
    verify(f.name)  # the temp file, complete on disk; raising here stops the rename
