"""IMDB reviews for the RNN scenario: x int32 (N, maxlen), y float32 (N,) in {0, 1} (neg = 0, pos = 1).

Sources, first found wins, each looked for in <dir>/ then <dir>/imdb/, for the data directory and
then the per-user cache:
1. the tarball aclImdb_v1_labeled.tar.gz or aclImdb_v1.tar.gz, checked by sha256 and read in place
   with tarfile (never extracted). Only regular members aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt
   are read (unsup/ and the rest are ignored); a member with an absolute path or a `..` component
   makes the whole archive refused, as no genuine copy has one.
2. an extracted aclImdb/ directory, checked by its file counts (12500 reviews per class and split).
3. Keras's imdb.npz (+ optional imdb_word_index.json), checked by their published digests.
Otherwise the original aclImdb_v1.tar.gz is downloaded into the per-user cache.

Encoding of the raw text (the scheme of Keras's imdb.npz; it reproduces the scheme, not its bytes):
- text: UTF-8 (undecodable bytes replaced), lowercased, each "<br />" replaced by a space;
- tokens: runs of Unicode letters and digits, apostrophes kept inside a word, regex
  [^\\W_]+(?:'[^\\W_]+)*  ("Don't" -> "don't"; quotes, hyphens and other punctuation split/drop);
- vocabulary: words ranked by their count over the TRAINING split only, ties by the word
  (alphabetical); rank 1 = most frequent;
- index = rank + index_from (3). 0 = padding, 1 = start marker (put before every review),
  2 = out of vocabulary (index >= num_words, or a word never seen in training); 3 is unused, as in Keras;
- pad/truncate to maxlen like keras pad_sequences' defaults: zeros in front, and a longer review
  keeps its END (pre-truncation; the start marker is then cut off too).
Order of the raw text: within each split and class, reviews sorted by numeric id, then shuffled with
np.random.RandomState(113) (train neg, train pos, test neg, test pos); each split is then the
interleaving neg, pos, neg, pos, ... so that every prefix (max_samples) holds both classes, balanced.
imdb.npz: exactly keras.datasets.imdb.load_data(num_words=num_words) (its seed-113 shuffle,
start_char=1, oov_char=2, index_from=3, skip_top=0, no maxlen filter), then the same padding.

Cache: encoding takes ~10 s, so the arrays are kept in imdb-<key>.npz, key = sha256 over the
source's checksum and (num_words, maxlen, index_from, TOKENIZER_VERSION). It goes to
$KERAS_MXNET_BENCH_CACHE if set, else next to the source when that directory is writable
(write bits set), else to the per-user cache. It is written atomically and holds a sha256 of its
arrays: a cache that fails to load or to match is deleted and rebuilt, never used.
"""
import collections
import hashlib
import json
import os
import pathlib
import re
import tarfile
import warnings
import zipfile
import zlib

import numpy as np

from . import fetch
from .common import (CACHE_ENV_VAR, HOW_TO_FIX, DataError, atomic_write, file_digest,
                     user_cache_dir, writable_dir)

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
TARBALLS = ("aclImdb_v1_labeled.tar.gz", "aclImdb_v1.tar.gz")
# sha256 of the accepted tarballs. Tests replace these.
TAR_SHA256 = {
    "3c27c84c5b647935a2b44ee9c5b3fc302d26b6d268caf4c6a360aa7cb1f5fce7": "labeled-only copy (shared/data)",
    # The original 84125825-byte archive from URL (torchtext/paddle list its md5 as
    # 7c2ac02c03563afcf9b574c7e56c153a).
    "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe": "aclImdb_v1.tar.gz",
}
NPZ_SHA256 = {"69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"}  # keras.datasets.imdb
WORD_INDEX_MD5 = {"bfafd718b763782e994055a2d397834f"}  # keras.datasets.imdb.get_word_index
EXPECTED_PER_CLASS = 12500  # reviews per class and split in an extracted aclImdb/

TOKENIZER_VERSION = 1  # bump when tokenize/encode change: it is part of the cache key
CACHE_FORMAT = 1
START, OOV, SHUFFLE_SEED = 1, 2, 113
SPLITS, CLASSES = ("train", "test"), ("neg", "pos")
MEMBER = re.compile(r"aclImdb/(train|test)/(neg|pos)/(\d+)_\d+\.txt")
TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
FIELDS = ("x_train", "y_train", "x_val", "y_val", "words")


def tokenize(text):
    return TOKEN.findall(text.lower().replace("<br />", " "))


def load(data_dir, download=True, num_words=5000, maxlen=500, index_from=3, cache_dir=None):
    """(x_train, y_train, x_val, y_val), encoded as the module doc says."""
    a = _encoded(data_dir, download, num_words, maxlen, index_from, cache_dir)
    return a["x_train"], a["y_train"], a["x_val"], a["y_val"]


def vocabulary(data_dir, download=True, num_words=5000, maxlen=500, index_from=3, cache_dir=None):
    """The kept words by rank: words[0] has rank 1, i.e. index 1 + index_from."""
    words = _encoded(data_dir, download, num_words, maxlen, index_from, cache_dir)["words"]
    return [str(w) for w in words]


def _encoded(data_dir, download, num_words, maxlen, index_from, cache_dir):
    kind, source = _find(pathlib.Path(data_dir), download)
    digest = _verify(kind, source)
    params = dict(source=digest, kind=kind, num_words=num_words, maxlen=maxlen, index_from=index_from,
                  tokenizer=TOKENIZER_VERSION, format=CACHE_FORMAT)
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    name = f"imdb-{key[:24]}.npz"
    places = _cache_dirs(source.parent, cache_dir)
    for place in places:
        arrays = _read_cache(place / name, key)
        if arrays is not None:
            return arrays
    build = {"tar": _read_tar, "dir": _read_dir}.get(kind)
    if build:
        arrays = _encode_texts(build(source), num_words, maxlen, index_from)
    else:
        arrays = _encode_npz(source, num_words, maxlen, index_from)
    _write_cache(places, name, key, arrays)
    return arrays


# ---- finding and verifying the source -------------------------------------------------------

def _find(data_dir, download):
    places = [p for d in dict.fromkeys([data_dir, user_cache_dir()]) for p in (d, d / "imdb")]
    for place in places:
        for name in TARBALLS:
            if (place / name).is_file():
                return "tar", place / name
        if (place / "aclImdb").is_dir():
            return "dir", place / "aclImdb"
        if (place / "imdb.npz").is_file():
            return "npz", place / "imdb.npz"
    target = user_cache_dir() / "aclImdb_v1.tar.gz"
    try:
        fetch.download([URL], target, lambda p: _verify("tar", p), enabled=download)
    except DataError as e:
        looked = ", ".join(str(p) for p in places)
        raise DataError(f"no IMDB data ({' or '.join(TARBALLS)}, an extracted aclImdb/, or imdb.npz) "
                        f"in {looked}; {e}; get it from {URL}, or {HOW_TO_FIX}") from None
    return "tar", target


def _verify(kind, path):
    """Check the source; return the checksum that identifies it in the cache key."""
    if kind == "dir":
        return _check_dir(path)
    digest = file_digest(path, "sha256")
    accepted = TAR_SHA256 if kind == "tar" else NPZ_SHA256
    if digest not in accepted:
        raise DataError(f"{path} has sha256 {digest}, expected one of {', '.join(accepted)}; "
                        f"replace it with a fresh copy from {URL}, or {HOW_TO_FIX}")
    return digest


def _check_dir(root):
    listing = []
    for split in SPLITS:
        for cls in CLASSES:
            files = sorted(p for p in (root / split / cls).glob("*.txt") if MEMBER.fullmatch(
                f"aclImdb/{split}/{cls}/{p.name}"))
            if len(files) != EXPECTED_PER_CLASS:
                raise DataError(f"{root / split / cls} has {len(files)} reviews, expected "
                                f"{EXPECTED_PER_CLASS} (an incomplete extraction?); extract "
                                f"{URL} again, or {HOW_TO_FIX}")
            listing += [f"{p.relative_to(root)} {p.stat().st_size} {p.stat().st_mtime_ns}" for p in files]
    # No published checksum for a directory: its listing (names, sizes, mtimes) keys the cache,
    # so editing or replacing a review rebuilds it.
    return "dir:" + hashlib.sha256("\n".join(listing).encode()).hexdigest()


# ---- reading reviews: {(split, class): [(id, text), ...]} --------------------------------------

def _read_tar(path):
    reviews = collections.defaultdict(list)
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                parts = pathlib.PurePosixPath(name).parts
                if name.startswith("/") or ".." in parts:
                    raise DataError(f"{path} has an unsafe member {member.name!r} (absolute or '..' "
                                    f"path); this is not a genuine IMDB archive: get one from {URL}")
                m = MEMBER.fullmatch(name)
                if m and member.isfile():
                    text = tar.extractfile(member).read().decode("utf-8", "replace")
                    reviews[m[1], m[2]].append((int(m[3]), text))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a complete .tar.gz ({e}); replace it with a fresh copy from "
                        f"{URL}, or {HOW_TO_FIX}") from None
    return _checked(reviews, path)


def _read_dir(root):
    reviews = collections.defaultdict(list)
    for split in SPLITS:
        for cls in CLASSES:
            for p in (root / split / cls).glob("*.txt"):
                m = MEMBER.fullmatch(f"aclImdb/{split}/{cls}/{p.name}")
                if m:
                    reviews[split, cls].append((int(m[3]), p.read_bytes().decode("utf-8", "replace")))
    return _checked(reviews, root)


def _checked(reviews, source):
    empty = [f"{s}/{c}" for s in SPLITS for c in CLASSES if not reviews[s, c]]
    if empty:
        raise DataError(f"{source} has no reviews in {', '.join(empty)}; get the full archive "
                        f"from {URL}, or {HOW_TO_FIX}")
    return reviews


def _ordered(reviews):
    """{split: (texts, labels)} in the documented order: per-class shuffle, then neg/pos interleave."""
    rng = np.random.RandomState(SHUFFLE_SEED)
    out = {}
    for split in SPLITS:
        keyed = []
        for label, cls in enumerate(CLASSES):
            items = sorted(reviews[split, cls])  # by numeric id: independent of archive order
            for pos, i in enumerate(rng.permutation(len(items))):
                keyed.append((pos, label, items[i][1]))
        keyed.sort(key=lambda k: k[:2])  # position within class, then neg before pos
        out[split] = [k[2] for k in keyed], np.array([k[1] for k in keyed], np.float32)
    return out


# ---- encoding ----------------------------------------------------------------------------------

def _encode_texts(reviews, num_words, maxlen, index_from):
    data = _ordered(reviews)
    counts = collections.Counter()
    for text in data["train"][0]:  # the vocabulary comes from the training split only
        counts.update(tokenize(text))
    words = sorted(counts, key=lambda w: (-counts[w], w))
    if num_words:
        words = words[:max(0, num_words - index_from - 1)]  # index = rank + index_from < num_words
    index = {w: rank + index_from for rank, w in enumerate(words, start=1)}
    seqs = {s: [[START] + [index.get(t, OOV) for t in tokenize(text)] for text in data[s][0]]
            for s in SPLITS}
    return dict(x_train=pad(seqs["train"], maxlen), y_train=data["train"][1],
                x_val=pad(seqs["test"], maxlen), y_val=data["test"][1], words=np.array(words, dtype=str))


def _encode_npz(path, num_words, maxlen, index_from):
    try:
        # Object arrays of lists need pickle; the file's sha256 was checked just before.
        with np.load(path, allow_pickle=True) as f:
            x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise DataError(f"{path} is not a readable Keras imdb.npz ({e}); replace it, or {HOW_TO_FIX}") from None
    # The steps of keras.datasets.imdb.load_data, in its order.
    rng = np.random.RandomState(SHUFFLE_SEED)
    idx = np.arange(len(x_train))
    rng.shuffle(idx)
    x_train, y_train = x_train[idx], y_train[idx]
    idx = np.arange(len(x_test))
    rng.shuffle(idx)
    x_test, y_test = x_test[idx], y_test[idx]
    xs = [[START] + [w + index_from for w in x] for x in list(x_train) + list(x_test)]
    limit = num_words or max(max(x) for x in xs)
    xs = [[w if w < limit else OOV for w in x] for x in xs]
    n = len(x_train)
    return dict(x_train=pad(xs[:n], maxlen), y_train=y_train.astype(np.float32),
                x_val=pad(xs[n:], maxlen), y_val=y_test.astype(np.float32),
                words=_npz_words(path.parent / "imdb_word_index.json", num_words, index_from))


def _npz_words(path, num_words, index_from):
    if not path.is_file():
        return np.array([], dtype=str)
    digest = file_digest(path, "md5")
    if digest not in WORD_INDEX_MD5:
        raise DataError(f"{path} has md5 {digest}, expected {', '.join(WORD_INDEX_MD5)} "
                        f"(keras.datasets.imdb); replace or remove it")
    ranks = json.loads(path.read_text(encoding="utf-8"))  # word -> rank (1-based, no offset)
    words = sorted(ranks, key=ranks.get)
    return np.array(words[:max(0, num_words - index_from - 1)] if num_words else words, dtype=str)


def pad(seqs, maxlen):
    """keras pad_sequences(seqs, maxlen) with its defaults: int32, zeros in front, keep the end."""
    x = np.zeros((len(seqs), maxlen), np.int32)
    for i, s in enumerate(seqs):
        s = s[-maxlen:]
        if s:
            x[i, maxlen - len(s):] = s
    return x


# ---- the cache -----------------------------------------------------------------------------------

def _cache_dirs(next_to_data, cache_dir):
    chosen = cache_dir or os.environ.get(CACHE_ENV_VAR)
    if chosen:
        return [pathlib.Path(chosen).expanduser()]
    return list(dict.fromkeys([next_to_data, user_cache_dir()]))


def _checksum(arrays):
    h = hashlib.sha256()
    for k in FIELDS:
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k} {a.dtype.str} {a.shape}".encode())
        h.update(a.tobytes() if a.dtype.kind == "U" else memoryview(a).cast("B"))
    return h.hexdigest()


def _read_cache(path, key):
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in FIELDS}
            ok = str(f["key"]) == key and str(f["checksum"]) == _checksum(arrays)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, zlib.error):
        ok = False
    if ok:
        return arrays
    warnings.warn(f"ignoring corrupt IMDB cache {path}; rebuilding it")
    try:
        path.unlink()
    except OSError:
        pass  # read-only place: it is skipped each time, and the rebuilt cache goes elsewhere
    return None


def _write_cache(places, name, key, arrays):
    extra = dict(key=np.array(key), checksum=np.array(_checksum(arrays)))
    for place in places:
        if place.exists() and not writable_dir(place):
            continue
        try:
            # Uncompressed (~100 MB for 2 x 25000 x 500 int32): savez_compressed would make it
            # 18 MB but add ~6 s to the first load, for no gain on the second.
            atomic_write(place / name, lambda f: np.savez(f, **arrays, **extra))
            return
        except OSError:
            continue
    warnings.warn(f"could not write the IMDB cache to any of {', '.join(map(str, places))}; "
                  "the next load will encode again")
