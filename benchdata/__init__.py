"""The benchmark's data: MNIST for 'lenet', IMDB for 'rnn', or synthetic stand-ins of the same form.

    >>> ds = load("lenet", max_samples=1000)      # real data, first 1000 train and val samples
    >>> ds = load("rnn", data="synthetic", seed=1)

Real data is looked for in --data-dir (data_dir), else $KERAS_MXNET_BENCH_DATA, else the per-user
cache ${XDG_CACHE_HOME:-~/.cache}/keras-mxnet-bench, which is also where downloads go
($KERAS_MXNET_BENCH_OFFLINE=1 or download=False: never download). Formats, checks, encoding and
cache: see benchdata.mnist and benchdata.imdb. numpy and the standard library only: no mxnet or
keras, so both sides of the benchmark get the very same arrays.
"""
import os
from typing import NamedTuple, Optional

import numpy as np

from .common import (CACHE_ENV_VAR, ENV_VAR, OFFLINE_ENV_VAR, DataError, resolve_data_dir,
                     user_cache_dir)

__all__ = ["DataError", "Dataset", "load", "resolve_data_dir", "ENV_VAR", "CACHE_ENV_VAR",
           "OFFLINE_ENV_VAR", "SCENARIOS", "DATA_KINDS", "user_cache_dir"]

SCENARIOS = ("lenet", "rnn")
DATA_KINDS = ("real", "synthetic")
NUM_WORDS, MAXLEN = 5000, 500  # the rnn scenario: top 5000 words, reviews cut/padded to 500


class Dataset(NamedTuple):
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    kind: str  # 'real' or 'synthetic'


def load(scenario: str, data: str = "real", data_dir: Optional[str] = None,
         max_samples: Optional[int] = None, seed: int = 0, download: bool = True) -> Dataset:
    """The data of one scenario.

    lenet: x float32 (N, 1, 28, 28) in [0, 1], y int64 (N,) in 0..9; MNIST train 60000 / test 10000.
    rnn:   x int32 (N, 500), y float32 (N,) in {0, 1}; IMDB train 25000 / test 25000.
    max_samples: keep the first N of train and of val (orders: see the loader modules).
    seed: used by data='synthetic' only; the real data's order is fixed.
    """
    if scenario not in SCENARIOS:
        raise DataError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    if data not in DATA_KINDS:
        raise DataError(f"unknown data {data!r}; expected one of {', '.join(DATA_KINDS)}")
    if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(max_samples, int)
                                    or max_samples < 1):
        raise DataError(f"max_samples must be a positive integer or None, got {max_samples!r}")
    if data == "synthetic":
        from . import synthetic
        return Dataset(*synthetic.make(scenario, max_samples, seed), kind="synthetic")

    explicit = data_dir or os.environ.get(ENV_VAR)
    root = resolve_data_dir(data_dir)
    if explicit and not root.is_dir():
        source = "--data-dir" if data_dir else f"${ENV_VAR}"
        raise DataError(f"data directory {root} (from {source}) does not exist; point it at the "
                        f"directory holding mnist/ and the IMDB archive, or run with --data synthetic")
    if scenario == "lenet":
        from . import mnist
        arrays = mnist.load(root, download=download)
    else:
        from . import imdb
        arrays = imdb.load(root, download=download, num_words=NUM_WORDS, maxlen=MAXLEN)
    if max_samples:
        arrays = [a[:max_samples] for a in arrays]
    return Dataset(*arrays, kind="real")
