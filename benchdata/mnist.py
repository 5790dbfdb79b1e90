"""MNIST for the LeNet scenario: x float32 (N, 1, 28, 28) in [0, 1], y int64 (N,) in 0..9.

Sources, first found wins, each looked for in <dir>/mnist/ then <dir>/, for the data directory
and then the per-user cache:
1. the four canonical IDX files (*.gz). They are checked by the md5 of their DECOMPRESSED
   content, so the original .gz files and recompressed copies (like the shared one) both pass;
   the IDX headers (magic, dims) are checked too.
2. Keras's mnist.npz (x_train, y_train, x_test, y_test), checked by its published sha256.
Otherwise the IDX files are downloaded into the per-user cache from the mirrors below.
train = the 60000 training images, val = the 10000 test images, in file order.
"""
import gzip
import hashlib
import math
import pathlib
import struct
import zipfile
import zlib

import numpy as np

from . import fetch
from .common import HOW_TO_FIX, DataError, file_digest, user_cache_dir

# md5 of the decompressed IDX bytes (the same as the original site's). Tests replace these.
MD5 = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
TRAIN = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
TEST = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
# keras.datasets.mnist's file_hash for mnist.npz.
NPZ_SHA256 = {"731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def load(data_dir, download=True):
    """(x_train, y_train, x_val, y_val) from the first MNIST source found (see module doc)."""
    data_dir, target = pathlib.Path(data_dir), user_cache_dir() / "mnist"  # downloads go to target
    places = [p for d in dict.fromkeys([data_dir, user_cache_dir()]) for p in (d / "mnist", d)]
    for place in places:
        present = [n for n in MD5 if (place / n).is_file()]
        if len(present) == len(MD5):
            return _from_idx(place)
        if present and place != target:  # a half-copied set is a mistake worth reporting
            missing = ", ".join(n for n in MD5 if n not in present)
            raise DataError(f"MNIST in {place} is incomplete: missing {missing}; "
                            f"copy all four files from {MIRRORS[0]}, or {HOW_TO_FIX}")
        if (place / "mnist.npz").is_file():
            return _from_npz(place / "mnist.npz")
    try:
        for name in (n for n in MD5 if not (target / n).is_file()):  # resume an interrupted set
            fetch.download([m + name for m in MIRRORS], target / name,
                           lambda p, name=name: read_idx(p, MD5[name]), enabled=download)
    except DataError as e:
        looked = ", ".join(str(p) for p in places)
        raise DataError(f"no MNIST data (the four *-ubyte.gz IDX files or mnist.npz) in {looked}; "
                        f"{e}; {HOW_TO_FIX}") from None
    return _from_idx(target)


def read_idx(path, expected_md5):
    """The array in a gzip-compressed IDX file of unsigned bytes, after checking md5 and header."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; EOFError = truncated
        raise DataError(f"{path} is not a complete gzip file ({e}); "
                        f"replace it with a fresh copy from {MIRRORS[0]}, or {HOW_TO_FIX}") from None
    md5 = hashlib.md5(raw).hexdigest()
    if md5 != expected_md5:
        raise DataError(f"{path} has the wrong content (md5 of the decompressed bytes {md5}, "
                        f"expected {expected_md5}); replace it with a fresh copy from {MIRRORS[0]}, "
                        f"or {HOW_TO_FIX}")
    return parse_idx(raw, path)


def parse_idx(raw, path="IDX data"):
    # IDX: 2 zero bytes, a type code (0x08 = unsigned byte), the number of dims, then each dim
    # as a big-endian uint32, then the data in C order.
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] not in (1, 3):
        raise DataError(f"{path} is not an IDX file of unsigned bytes "
                        f"(magic {raw[:4].hex()}, expected 00000801 or 00000803)")
    header = 4 + 4 * raw[3]
    dims = struct.unpack(f">{raw[3]}I", raw[4:header]) if len(raw) >= header else ()
    if len(raw) != header + math.prod(dims) or not dims:
        raise DataError(f"{path}: IDX header says dims {dims}, which does not match the "
                        f"{len(raw)} bytes of the file")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _from_idx(place):
    arrays = [read_idx(place / name, MD5[name]) for name in TRAIN + TEST]
    return _convert(*arrays, source=place)


def _from_npz(path):
    digest = file_digest(path, "sha256")
    if digest not in NPZ_SHA256:
        raise DataError(f"{path} has sha256 {digest}, expected {sorted(NPZ_SHA256)[0]} "
                        f"(keras.datasets.mnist); replace it, or {HOW_TO_FIX}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path} is not a readable Keras mnist.npz ({e}); replace it, or {HOW_TO_FIX}") from None
    return _convert(*arrays, source=path)


def _convert(x_train, y_train, x_test, y_test, source):
    out = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),) or (y.size and y.max() > 9):
            raise DataError(f"MNIST in {source}: images {x.shape} and labels {y.shape} do not fit "
                            f"(expected (N, 28, 28) images, N labels in 0..9); {HOW_TO_FIX}")
        # Channels-first (N, 1, 28, 28), the layout both the Keras and the Gluon LeNet use.
        out += [(x.astype(np.float32) / np.float32(255))[:, None], y.astype(np.int64)]
    return tuple(out)
