"""Synthetic data: the real data's shapes, dtypes and value ranges, from a seed, with no files.

Each of x_train, y_train, x_val, y_val comes from its own stream (SeedSequence(seed).spawn), so an
array does not depend on the others' sizes, and a max_samples prefix equals the same rows of the
full-size data.
"""
import numpy as np

SIZES = {"lenet": (60000, 10000), "rnn": (25000, 25000)}
NUM_WORDS, MAXLEN, MIN_LEN = 5000, 500, 10


def make(scenario, max_samples=None, seed=0):
    n_train, n_val = (min(n, max_samples) if max_samples else n for n in SIZES[scenario])
    s = np.random.SeedSequence(seed).spawn(4)
    g = [np.random.default_rng(x) for x in s]
    if scenario == "lenet":
        return (_images(g[0], n_train), g[1].integers(0, 10, n_train, dtype=np.int64),
                _images(g[2], n_val), g[3].integers(0, 10, n_val, dtype=np.int64))
    return (_reviews(s[0], n_train), g[1].integers(0, 2, n_train).astype(np.float32),
            _reviews(s[2], n_val), g[3].integers(0, 2, n_val).astype(np.float32))


def _images(rng, n):
    return rng.random((n, 1, 28, 28), dtype=np.float32)  # [0, 1), like pixels / 255


def _reviews(seq, n):
    """Like the encoded IMDB: zeros in front, the start marker 1, then word indices in [2, NUM_WORDS)."""
    words, lens = (np.random.default_rng(x) for x in seq.spawn(2))  # one stream each: prefix-stable
    x = words.integers(2, NUM_WORDS, (n, MAXLEN), dtype=np.int32)
    lengths = lens.integers(MIN_LEN, MAXLEN + 1, (n, 1))
    col = np.arange(MAXLEN)
    start = MAXLEN - lengths
    x[col < start] = 0
    x[col == start] = 1
    return x
