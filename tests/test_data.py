"""Tests of benchdata: tiny MNIST/IMDB fixtures made here in the real formats, plus integration
tests on the real data in ../shared/data (skipped when it is absent). Never touches the network: one
test serves files over HTTP from a server of its own on 127.0.0.1."""
import gzip
import hashlib
import io
import json
import os
import pathlib
import struct
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import benchdata
from benchdata import DataError, imdb, mnist
from benchdata.__main__ import main as cli_main

ROOT = pathlib.Path(__file__).parents[1]
REAL_URLOPEN = urllib.request.urlopen  # for the one test that serves files on 127.0.0.1
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No network, no real user cache, no inherited data dir; the IMDB cache in tmp."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(benchdata.OFFLINE_ENV_VAR, "1")
    monkeypatch.setenv(benchdata.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.delenv(benchdata.ENV_VAR, raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("tests must not touch the network")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def one_line(e):
    msg = str(e.value if hasattr(e, "value") else e)
    assert "\n" not in msg and msg
    return msg


# ---- MNIST ---------------------------------------------------------------------------------------

def idx_bytes(arr):
    arr = np.asarray(arr, np.uint8)
    return struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_gz(path, raw):
    with gzip.open(path, "wb") as f:
        f.write(raw)


@pytest.fixture
def mnist_arrays():
    rng = np.random.default_rng(0)
    return {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28)),
            "train-labels-idx1-ubyte.gz": np.array([0, 1, 2, 3, 9]),
            "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28)),
            "t10k-labels-idx1-ubyte.gz": np.array([4, 5, 6])}


def make_mnist(directory, arrays, monkeypatch):
    """Write the four IDX .gz files and register their md5s (the canonical ones cannot match)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        raw = idx_bytes(arr)
        write_gz(directory / name, raw)
        monkeypatch.setitem(mnist.MD5, name, hashlib.md5(raw).hexdigest())
    return directory


@pytest.fixture
def mnist_dir(tmp_path, mnist_arrays, monkeypatch):
    make_mnist(tmp_path / "data" / "mnist", mnist_arrays, monkeypatch)
    return tmp_path / "data"


def check_mnist(ds, arrays):
    x_train, y_train, x_val, y_val = (arrays[n] for n in mnist.TRAIN + mnist.TEST)
    assert ds.kind == "real"
    assert ds.x_train.dtype == np.float32 and ds.x_train.shape == (5, 1, 28, 28)
    assert ds.y_train.dtype == np.int64 and ds.y_train.tolist() == y_train.tolist()
    assert ds.x_val.shape == (3, 1, 28, 28) and ds.y_val.tolist() == y_val.tolist()
    np.testing.assert_allclose(ds.x_train[:, 0], x_train / 255, rtol=1e-6)
    np.testing.assert_allclose(ds.x_val[:, 0], x_val / 255, rtol=1e-6)
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1


def test_mnist_idx(mnist_dir, mnist_arrays):
    check_mnist(benchdata.load("lenet", data_dir=str(mnist_dir)), mnist_arrays)


def test_mnist_idx_in_dir_itself_and_via_env(tmp_path, mnist_arrays, monkeypatch):
    make_mnist(tmp_path / "flat", mnist_arrays, monkeypatch)
    monkeypatch.setenv(benchdata.ENV_VAR, str(tmp_path / "flat"))
    check_mnist(benchdata.load("lenet"), mnist_arrays)


def test_mnist_max_samples_is_a_prefix(mnist_dir):
    full = benchdata.load("lenet", data_dir=mnist_dir)
    part = benchdata.load("lenet", data_dir=mnist_dir, max_samples=2)
    for a, b in zip(full[:4], part[:4]):
        np.testing.assert_array_equal(a[:2], b)


def test_mnist_npz_when_gz_absent(tmp_path, mnist_arrays, monkeypatch):
    x_train, y_train, x_test, y_test = (mnist_arrays[n] for n in mnist.TRAIN + mnist.TEST)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_train.astype(np.uint8), y_train=y_train.astype(np.uint8),
             x_test=x_test.astype(np.uint8), y_test=y_test.astype(np.uint8))
    with pytest.raises(DataError, match="sha256") as e:  # the published digest cannot match
        benchdata.load("lenet", data_dir=tmp_path)
    one_line(e)
    monkeypatch.setattr(mnist, "NPZ_SHA256", {hashlib.sha256(path.read_bytes()).hexdigest()})
    check_mnist(benchdata.load("lenet", data_dir=tmp_path), mnist_arrays)


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_mnist_damaged_gz(mnist_dir, damage):
    path = mnist_dir / "mnist" / "train-images-idx3-ubyte.gz"
    data = bytearray(path.read_bytes())
    if damage == "corrupt":
        data[len(data) // 2:len(data) // 2 + 64] = b"\xff" * 64
    else:
        data = data[:len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as e:
        benchdata.load("lenet", data_dir=mnist_dir)
    msg = one_line(e)
    assert str(path) in msg and "--data synthetic" in msg


def test_mnist_wrong_content_md5(mnist_dir, mnist_arrays):
    # A valid gzip of other content: only the md5 of the decompressed bytes catches it.
    write_gz(mnist_dir / "mnist" / "t10k-labels-idx1-ubyte.gz", idx_bytes([4, 5, 7]))
    with pytest.raises(DataError, match=r"t10k-labels.*md5.*expected") as e:
        benchdata.load("lenet", data_dir=mnist_dir)
    one_line(e)


def test_mnist_real_md5s_accept_recompressed_gz(tmp_path):
    # The registry holds digests of the decompressed bytes, so the compression level is irrelevant.
    raw = idx_bytes(np.zeros((1, 28, 28)))
    for level in (1, 9):
        with gzip.open(tmp_path / f"x{level}.gz", "wb", compresslevel=level) as f:
            f.write(raw)
        mnist.read_idx(tmp_path / f"x{level}.gz", hashlib.md5(raw).hexdigest())


@pytest.mark.parametrize("raw", [
    b"\x00\x00\x09\x01" + struct.pack(">I", 2) + b"ab",      # type code not unsigned byte
    b"\x00\x00\x08\x01" + struct.pack(">I", 3) + b"ab",      # dims say 3 bytes, 2 present
    b"\x00\x00\x08\x03" + struct.pack(">I", 1),              # header cut short
    b"\x00\x00",
])
def test_idx_header_checked(raw):
    with pytest.raises(DataError):
        mnist.parse_idx(raw)


def test_idx_images_labels_mismatch(mnist_dir, monkeypatch):
    raw = idx_bytes([0, 1, 2, 3])  # 4 labels for 5 images
    write_gz(mnist_dir / "mnist" / "train-labels-idx1-ubyte.gz", raw)
    monkeypatch.setitem(mnist.MD5, "train-labels-idx1-ubyte.gz", hashlib.md5(raw).hexdigest())
    with pytest.raises(DataError, match="do not fit"):
        benchdata.load("lenet", data_dir=mnist_dir)


def test_mnist_incomplete_set(mnist_dir):
    (mnist_dir / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte.gz"):
        benchdata.load("lenet", data_dir=mnist_dir)


def test_missing_data_offline_message(tmp_path):
    with pytest.raises(DataError) as e:
        benchdata.load("lenet", data_dir=tmp_path)
    msg = one_line(e)
    for part in (str(tmp_path / "mnist"), "--data-dir", benchdata.ENV_VAR, "--data synthetic",
                 benchdata.OFFLINE_ENV_VAR):
        assert part in msg
    with pytest.raises(DataError) as e:
        benchdata.load("rnn", data_dir=tmp_path)
    assert "aclImdb_v1.tar.gz" in one_line(e) and "--data synthetic" in str(e.value)


def test_download_false_needs_no_env(tmp_path, monkeypatch):
    monkeypatch.delenv(benchdata.OFFLINE_ENV_VAR)  # urlopen still raises if it were called
    with pytest.raises(DataError, match="download=False"):
        benchdata.load("lenet", data_dir=tmp_path, download=False)


def test_missing_explicit_data_dir(tmp_path):
    with pytest.raises(DataError, match="does not exist") as e:
        benchdata.load("lenet", data_dir=tmp_path / "nope")
    one_line(e)


class FakeResponse(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_download_tries_mirrors_verifies_and_renames(tmp_path, mnist_arrays, monkeypatch):
    """Fake network: mirror 1 is down, mirror 2 serves a corrupt train-images then good files."""
    src = make_mnist(tmp_path / "served", mnist_arrays, monkeypatch)
    calls = []

    def urlopen(url, timeout=None):
        calls.append(url)
        name = url.rsplit("/", 1)[1]
        if url.startswith(mnist.MIRRORS[0]):
            raise urllib.error.URLError("mirror down")
        if name.startswith("train-images") and calls.count(url) == 1:
            return FakeResponse(b"not gzip at all")
        return FakeResponse((src / name).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.delenv(benchdata.OFFLINE_ENV_VAR)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="download failed.*mirror down.*not a complete gzip"):
        benchdata.load("lenet", data_dir=empty)
    target = benchdata.user_cache_dir() / "mnist"
    assert sorted(os.listdir(target)) == []  # the bad download left nothing behind
    check_mnist(benchdata.load("lenet", data_dir=empty), mnist_arrays)
    assert sorted(os.listdir(target)) == sorted(mnist.MD5)
    calls.clear()
    benchdata.load("lenet", data_dir=empty)  # now found in the per-user cache
    assert calls == []


# ---- IMDB ----------------------------------------------------------------------------------------

REVIEWS = {
    ("train", "pos"): ["Great great movie<br />great!", "good MOVIE", "Don't miss it"],
    ("train", "neg"): ["bad bad bad movie", "boring", "It's bad... bad great movie bad great movie bad"],
    ("test", "pos"): ["great zzz zzz zzz zzz zzz", "movie", "great\u00e9t\u00e9 good"],
    ("test", "neg"): ["bad", "zzz bad movie", "boring boring"],
}
# Training counts: bad 7, movie 5, great 5, then one each, alphabetical; index = rank + 3.
TRAIN_RANKS = ["bad", "great", "movie", "boring", "don't", "good", "it", "it's", "miss"]


def make_tree(root):
    for (split, cls), texts in REVIEWS.items():
        d = root / "aclImdb" / split / cls
        d.mkdir(parents=True)
        for i, text in enumerate(texts):
            (d / f"{i * 7 + 1}_{8 if cls == 'pos' else 2}.txt").write_text(text, encoding="utf-8")
    (root / "aclImdb" / "train" / "unsup").mkdir()
    (root / "aclImdb" / "train" / "unsup" / "0_0.txt").write_text("unsup unsup unsup unsup unsup")
    (root / "aclImdb" / "train" / "urls_pos.txt").write_text("http://x\n")
    (root / "aclImdb" / "imdb.vocab").write_text("the\n")
    return root / "aclImdb"


def make_tar(path, root, extra=()):
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root / "aclImdb", arcname="aclImdb")
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def accept_tar(monkeypatch, path):
    monkeypatch.setattr(imdb, "TAR_SHA256", {hashlib.sha256(path.read_bytes()).hexdigest(): "test"})


@pytest.fixture
def imdb_tar(tmp_path, monkeypatch):
    make_tree(tmp_path / "tree")
    (tmp_path / "data").mkdir()
    path = make_tar(tmp_path / "data" / "aclImdb_v1_labeled.tar.gz", tmp_path / "tree")
    accept_tar(monkeypatch, path)
    return path


def encode_by_hand(text, num_words, maxlen):
    words = text.lower().replace("<br />", " ").replace("!", " ").replace(".", " ").split()
    idx = [1] + [TRAIN_RANKS.index(w) + 4 if w in TRAIN_RANKS and TRAIN_RANKS.index(w) + 4 < num_words
                 else 2 for w in words]
    idx = idx[-maxlen:]
    return [0] * (maxlen - len(idx)) + idx


def test_tokenize():
    assert imdb.tokenize("Don't<br />STOP-me, it's 10/10 \u00e9t\u00e9 'quoted' a_b") == \
        ["don't", "stop", "me", "it's", "10", "10", "\u00e9t\u00e9", "quoted", "a", "b"]


def test_imdb_encoding_keras_rules(imdb_tar):
    x_train, y_train, x_val, y_val = imdb.load(imdb_tar.parent, num_words=8, maxlen=6)
    assert x_train.dtype == np.int32 and x_train.shape == (6, 6) and x_val.shape == (6, 6)
    assert y_train.dtype == np.float32 and sorted(y_train) == [0, 0, 0, 1, 1, 1]
    for x, y, split in ((x_train, y_train, "train"), (x_val, y_val, "test")):
        got = sorted((int(label), tuple(row)) for row, label in zip(x.tolist(), y))
        want = sorted((int(cls == "pos"), tuple(encode_by_hand(t, 8, 6)))
                      for (s, cls), texts in REVIEWS.items() if s == split for t in texts)
        assert got == want
    assert x_train.max() < 8 and x_val.max() < 8
    # Spot checks of the rules themselves: start 1, oov 2, pre-padding, pre-truncation.
    assert encode_by_hand("Great great movie<br />great!", 8, 6) == [0, 1, 5, 5, 6, 5]
    assert encode_by_hand("Don't miss it", 8, 6) == [0, 0, 1, 2, 2, 2]
    assert encode_by_hand("great zzz zzz zzz zzz zzz", 8, 6) == [5, 2, 2, 2, 2, 2]  # start cut off


def test_imdb_vocabulary_from_training_split_only(imdb_tar):
    assert imdb.vocabulary(imdb_tar.parent, num_words=None, maxlen=6) == TRAIN_RANKS  # no zzz, no unsup
    assert imdb.vocabulary(imdb_tar.parent, num_words=7, maxlen=6) == TRAIN_RANKS[:3]


def test_imdb_order_interleaved_and_fixed(imdb_tar):
    a = imdb.load(imdb_tar.parent, num_words=8, maxlen=6)
    assert a[1].tolist() == [0, 1] * 3 and a[3].tolist() == [0, 1] * 3  # every prefix balanced
    b = imdb.load(imdb_tar.parent, num_words=8, maxlen=6, cache_dir=imdb_tar.parent / "other")
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_imdb_order_is_the_seed_113_shuffle_per_class_then_interleaved(imdb_tar):
    # Known answer: np.random.RandomState(113) gives, in turn, the permutations [2, 0, 1] (train
    # neg), [1, 0, 2] (train pos), [1, 2, 0] (test neg), [0, 1, 2] (test pos) of each class's
    # reviews sorted by numeric id (1, 8, 15: not '1', '15', '8'); the splits then interleave
    # neg, pos. A seed other than 113 (or no per-class shuffle) gives another order.
    order = {("train", "neg"): [2, 0, 1], ("train", "pos"): [1, 0, 2],
             ("test", "neg"): [1, 2, 0], ("test", "pos"): [0, 1, 2]}
    x_train, y_train, x_val, y_val = imdb.load(imdb_tar.parent, num_words=8, maxlen=6)
    for x, y, split in ((x_train, y_train, "train"), (x_val, y_val, "test")):
        want = [encode_by_hand(REVIEWS[split, cls][order[split, cls][k]], 8, 6)
                for k in range(3) for cls in ("neg", "pos")]
        assert x.tolist() == want, split
        assert y.tolist() == [0, 1] * 3


def test_imdb_download_from_a_local_http_server(tmp_path, monkeypatch):
    # The download path end to end, over HTTP on 127.0.0.1: a corrupt archive is refused and
    # leaves nothing behind; the genuine one is verified, kept in the per-user cache and used.
    import http.server
    import threading

    served = tmp_path / "served"
    make_tree(tmp_path / "tree")
    served.mkdir()
    good = make_tar(served / "good.tar.gz", tmp_path / "tree")
    accept_tar(monkeypatch, good)
    (served / "corrupt.tar.gz").write_bytes(good.read_bytes()[:-100])
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        monkeypatch.setattr(urllib.request, "urlopen", REAL_URLOPEN)
        monkeypatch.delenv(benchdata.OFFLINE_ENV_VAR)
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        empty = tmp_path / "empty"
        empty.mkdir()
        cache = benchdata.user_cache_dir()

        monkeypatch.setattr(imdb, "URL", base + "corrupt.tar.gz")
        with pytest.raises(DataError, match="download failed") as error:
            benchdata.load("rnn", data_dir=empty)
        assert "corrupt.tar.gz" in one_line(error)
        assert not cache.exists() or not any(cache.rglob("*.tar.gz"))

        monkeypatch.setattr(imdb, "URL", base + "good.tar.gz")
        ds = benchdata.load("rnn", data_dir=empty)
        assert ds.x_train.shape == (6, 500) and ds.y_train.tolist() == [0, 1] * 3
        assert (cache / "aclImdb_v1.tar.gz").read_bytes() == good.read_bytes()
        assert requests == ["/corrupt.tar.gz", "/good.tar.gz"]
        fetched = len(requests)
        benchdata.load("rnn", data_dir=empty)  # found in the per-user cache: no request
        assert len(requests) == fetched
    finally:
        server.shutdown()
        server.server_close()


def test_imdb_public_load_and_prefix(imdb_tar):
    ds = benchdata.load("rnn", data_dir=imdb_tar.parent)
    assert ds.x_train.shape == (6, 500) and ds.x_val.shape == (6, 500) and ds.kind == "real"
    part = benchdata.load("rnn", data_dir=imdb_tar.parent, max_samples=2)
    assert part.x_train.shape == (2, 500) and part.y_train.tolist() == [0, 1]
    np.testing.assert_array_equal(part.x_val, ds.x_val[:2])


def test_imdb_dir_same_as_tar(tmp_path, imdb_tar, monkeypatch):
    tree = make_tree(tmp_path / "extracted")
    with pytest.raises(DataError, match="expected 12500") as e:
        imdb.load(tree.parent, num_words=8, maxlen=6)
    one_line(e)
    monkeypatch.setattr(imdb, "EXPECTED_PER_CLASS", 3)
    for u, v in zip(imdb.load(tree.parent, num_words=8, maxlen=6), imdb.load(imdb_tar.parent, num_words=8, maxlen=6)):
        np.testing.assert_array_equal(u, v)
    (tree / "test" / "neg" / "1_2.txt").unlink()
    with pytest.raises(DataError, match=r"test/neg has 2 reviews, expected 3"):
        imdb.load(tree.parent, num_words=8, maxlen=6)


def test_imdb_original_tarball_name(tmp_path, monkeypatch):
    make_tree(tmp_path / "tree")
    (tmp_path / "d" / "imdb").mkdir(parents=True)
    path = make_tar(tmp_path / "d" / "imdb" / "aclImdb_v1.tar.gz", tmp_path / "tree")
    accept_tar(monkeypatch, path)
    assert imdb.load(tmp_path / "d", num_words=8, maxlen=6)[0].shape == (6, 6)


def test_imdb_wrong_checksum(imdb_tar, monkeypatch):
    monkeypatch.setattr(imdb, "TAR_SHA256", {"0" * 64: "other"})
    with pytest.raises(DataError, match="sha256") as e:
        benchdata.load("rnn", data_dir=imdb_tar.parent)
    msg = one_line(e)
    assert str(imdb_tar) in msg and imdb.URL in msg and "--data synthetic" in msg


def test_imdb_truncated_tarball(imdb_tar, monkeypatch):
    imdb_tar.write_bytes(imdb_tar.read_bytes()[: imdb_tar.stat().st_size // 2])
    with pytest.raises(DataError, match="sha256"):  # the checksum catches it first ...
        imdb.load(imdb_tar.parent)
    accept_tar(monkeypatch, imdb_tar)  # ... and reading does, should the checksum be accepted
    with pytest.raises(DataError, match="not a complete .tar.gz") as e:
        imdb.load(imdb_tar.parent)
    one_line(e)


def evil(name, data=b"pwned", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


@pytest.mark.parametrize("member", ["../evil.txt", "aclImdb/train/pos/../../../evil.txt", "/tmp/evil.txt",
                                    "./../evil.txt"])
def test_imdb_tar_path_traversal_refused(tmp_path, monkeypatch, member):
    make_tree(tmp_path / "tree")
    (tmp_path / "d").mkdir()
    path = make_tar(tmp_path / "d" / "aclImdb_v1.tar.gz", tmp_path / "tree", [evil(member)])
    accept_tar(monkeypatch, path)
    with pytest.raises(DataError, match="unsafe member") as e:
        benchdata.load("rnn", data_dir=tmp_path / "d")
    one_line(e)
    assert not list(tmp_path.rglob("evil.txt")) and not pathlib.Path("/tmp/evil.txt").exists()


def test_imdb_tar_links_and_odd_members_ignored(tmp_path, monkeypatch):
    make_tree(tmp_path / "tree")
    (tmp_path / "d").mkdir()
    extra = [evil("aclImdb/train/pos/99_9.txt", kind=tarfile.SYMTYPE, link="/etc/passwd"),
             evil("aclImdb/train/pos/98_9.txt", kind=tarfile.LNKTYPE, link="aclImdb/imdb.vocab"),
             evil("aclImdb/train/unsup/5_0.txt", b"unsup words"),
             evil("aclImdb/train/pos/notes.txt", b"not a review")]
    path = make_tar(tmp_path / "d" / "aclImdb_v1.tar.gz", tmp_path / "tree", extra)
    accept_tar(monkeypatch, path)
    assert imdb.load(tmp_path / "d", num_words=8, maxlen=6)[0].shape == (6, 6)
    assert imdb.vocabulary(tmp_path / "d", num_words=None, maxlen=6) == TRAIN_RANKS


# ---- Keras imdb.npz ------------------------------------------------------------------------------

def keras_load_data(path, num_words, start_char=1, oov_char=2, index_from=3, seed=113):
    """keras.datasets.imdb.load_data's steps (skip_top=0, maxlen=None), transcribed for comparison."""
    with np.load(path, allow_pickle=True) as f:
        x_train, labels_train, x_test, labels_test = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]
    x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
    x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    xs = x_train + x_test
    xs = [[w if 0 <= w < num_words else oov_char for w in x] for x in xs]
    return xs[:len(x_train)], labels_train, xs[len(x_train):], labels_test


def object_array(lists):
    a = np.empty(len(lists), dtype=object)
    a[:] = [list(x) for x in lists]
    return a


def test_imdb_keras_npz(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    seqs = [rng.integers(1, 20, rng.integers(1, 12)).tolist() for _ in range(20)]
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=object_array(seqs[:12]), y_train=np.array([0, 1] * 6),
             x_test=object_array(seqs[12:]), y_test=np.array([1, 0] * 4))
    monkeypatch.setattr(imdb, "NPZ_SHA256", {hashlib.sha256(path.read_bytes()).hexdigest()})
    words = {f"w{i}": i for i in range(1, 20)}
    (tmp_path / "imdb_word_index.json").write_text(json.dumps(words))
    with pytest.raises(DataError, match="imdb_word_index.json has md5"):
        imdb.load(tmp_path, num_words=10, maxlen=8)
    monkeypatch.setattr(imdb, "WORD_INDEX_MD5", {hashlib.md5(json.dumps(words).encode()).hexdigest()})

    x_train, y_train, x_val, y_val = imdb.load(tmp_path, num_words=10, maxlen=8)
    k_train, k_ytrain, k_test, k_ytest = keras_load_data(path, num_words=10)
    np.testing.assert_array_equal(x_train, imdb.pad(k_train, 8))
    np.testing.assert_array_equal(x_val, imdb.pad(k_test, 8))
    assert y_train.dtype == np.float32 and y_train.tolist() == k_ytrain.tolist()
    assert y_val.tolist() == k_ytest.tolist()
    assert imdb.vocabulary(tmp_path, num_words=10, maxlen=8) == ["w1", "w2", "w3", "w4", "w5", "w6"]


def test_pad_like_keras_pad_sequences():
    assert imdb.pad([[1, 2, 3, 4], [5], []], 3).tolist() == [[2, 3, 4], [0, 0, 5], [0, 0, 0]]
    assert imdb.pad([[1]], 3).dtype == np.int32


# ---- the IMDB cache -------------------------------------------------------------------------------

def cache_files(d):
    return sorted(pathlib.Path(d).glob("imdb-*.npz"))


def test_imdb_cache_used_second_time(imdb_tar, tmp_path, monkeypatch):
    first = imdb.load(imdb_tar.parent, num_words=8, maxlen=6)
    [cached] = cache_files(tmp_path / "cache")
    monkeypatch.setattr(imdb, "_read_tar", lambda p: pytest.fail("cache not used"))
    for u, v in zip(first, imdb.load(imdb_tar.parent, num_words=8, maxlen=6)):
        np.testing.assert_array_equal(u, v)
    assert cache_files(tmp_path / "cache") == [cached]


def test_imdb_cache_key_has_parameters(imdb_tar, tmp_path):
    imdb.load(imdb_tar.parent, num_words=8, maxlen=6)
    imdb.load(imdb_tar.parent, num_words=9, maxlen=6)
    imdb.load(imdb_tar.parent, num_words=8, maxlen=7)
    assert len(cache_files(tmp_path / "cache")) == 3


@pytest.mark.parametrize("damage", ["garbage", "truncated", "tampered"])
def test_imdb_corrupt_cache_rebuilt(imdb_tar, tmp_path, damage):
    good = imdb.load(imdb_tar.parent, num_words=8, maxlen=6)
    [cached] = cache_files(tmp_path / "cache")
    if damage == "garbage":
        cached.write_bytes(b"\x00" * 1000)
    elif damage == "truncated":
        cached.write_bytes(cached.read_bytes()[:-200])
    else:  # a well-formed npz whose arrays no longer match their stored checksum
        with np.load(cached) as f:
            arrays = dict(f)
        arrays["x_train"] = arrays["x_train"] + 1
        np.savez_compressed(cached, **arrays)
    with pytest.warns(UserWarning, match="corrupt IMDB cache"):
        again = imdb.load(imdb_tar.parent, num_words=8, maxlen=6)
    for u, v in zip(good, again):
        np.testing.assert_array_equal(u, v)
    with np.load(cached) as f:  # rebuilt in place, and valid again
        assert str(f["checksum"]) == imdb._checksum({k: f[k] for k in imdb.FIELDS})


def test_imdb_cache_next_to_data_or_user_cache(imdb_tar, monkeypatch):
    monkeypatch.delenv(benchdata.CACHE_ENV_VAR)
    imdb.load(imdb_tar.parent, num_words=8, maxlen=6)
    assert len(cache_files(imdb_tar.parent)) == 1  # writable data directory: next to the data
    for f in cache_files(imdb_tar.parent):
        f.unlink()
    imdb_tar.parent.chmod(0o555)  # no write bits: even root must not write there
    try:
        imdb.load(imdb_tar.parent, num_words=8, maxlen=6)
    finally:
        imdb_tar.parent.chmod(0o755)
    assert cache_files(imdb_tar.parent) == [] and len(cache_files(benchdata.user_cache_dir())) == 1


# ---- synthetic, arguments, CLI ---------------------------------------------------------------

def test_synthetic_shapes_dtypes_ranges():
    lenet = benchdata.load("lenet", data="synthetic")
    assert lenet.kind == "synthetic"
    assert lenet.x_train.shape == (60000, 1, 28, 28) and lenet.x_val.shape == (10000, 1, 28, 28)
    assert lenet.x_train.dtype == np.float32 and 0 <= lenet.x_train.min() and lenet.x_train.max() <= 1
    assert lenet.y_train.dtype == np.int64 and set(np.unique(lenet.y_val)) == set(range(10))
    rnn = benchdata.load("rnn", data="synthetic")
    assert rnn.x_train.shape == (25000, 500) and rnn.x_val.shape == (25000, 500)
    assert rnn.x_train.dtype == np.int32 and 0 <= rnn.x_train.min() and rnn.x_train.max() < 5000
    assert rnn.y_train.dtype == np.float32 and set(np.unique(rnn.y_train)) == {0.0, 1.0}
    starts = (rnn.x_train == 1).argmax(axis=1)  # pre-padded: zeros, then 1, then words
    assert ((rnn.x_train == 1).sum(axis=1) == 1).all() and (rnn.x_train[:, -1] > 1).all()
    assert ((rnn.x_train != 0) == (np.arange(500) >= starts[:, None])).all()


def test_synthetic_deterministic_and_prefix():
    for scenario in ("lenet", "rnn"):
        a = benchdata.load(scenario, data="synthetic", max_samples=200, seed=3)
        b = benchdata.load(scenario, data="synthetic", max_samples=200, seed=3)
        c = benchdata.load(scenario, data="synthetic", max_samples=50, seed=3)
        d = benchdata.load(scenario, data="synthetic", max_samples=200, seed=4)
        for u, v, w in zip(a[:4], b[:4], c[:4]):
            np.testing.assert_array_equal(u, v)
            np.testing.assert_array_equal(u[:50], w)
        assert not np.array_equal(a.x_train, d.x_train)


def test_synthetic_needs_no_files(monkeypatch, tmp_path):
    monkeypatch.setenv(benchdata.ENV_VAR, str(tmp_path / "nowhere"))
    assert benchdata.load("rnn", data="synthetic", max_samples=3).x_train.shape == (3, 500)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scenario="resnet"), "'resnet'.*lenet, rnn"),
    (dict(scenario="lenet", data="fake"), "'fake'.*real, synthetic"),
    (dict(scenario="lenet", data="synthetic", max_samples=0), "max_samples"),
    (dict(scenario="lenet", data="synthetic", max_samples="10"), "max_samples"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(DataError, match=match) as e:
        benchdata.load(**kwargs)
    one_line(e)


def test_resolve_data_dir(tmp_path, monkeypatch):
    assert benchdata.resolve_data_dir() == tmp_path / "xdg" / "keras-mxnet-bench"
    monkeypatch.setenv(benchdata.ENV_VAR, str(tmp_path / "env"))
    assert benchdata.resolve_data_dir() == tmp_path / "env"
    assert benchdata.resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


def test_cli_ok(mnist_dir, capsys):
    assert cli_main(["--data-dir", str(mnist_dir), "--scenario", "lenet"]) == 0
    assert "x_train (5, 1, 28, 28) float32" in capsys.readouterr().out


def test_cli_corrupt_data_exits_2_one_line(mnist_dir, tmp_path):
    # The first file read; the subprocess has the real md5s, but the gzip layer fails first.
    gz = mnist_dir / "mnist" / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:-8])  # drop the gzip trailer: a truncated file
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "benchdata", "--data-dir", str(mnist_dir), "--scenario", "lenet"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert str(gz) in r.stderr and "not a complete gzip" in r.stderr


# ---- integration: the real data in ../shared/data -------------------------------------------------

needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no real data at {SHARED}")


@needs_shared
def test_integration_mnist():
    ds = benchdata.load("lenet", data_dir=SHARED)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_val.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.x_train.min() == 0 and ds.x_train.max() == 1
    assert np.bincount(ds.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(ds.y_val).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def shared_imdb_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("imdb-cache")


@pytest.mark.slow
@needs_shared
def test_integration_imdb(shared_imdb_cache, monkeypatch):
    monkeypatch.setenv(benchdata.CACHE_ENV_VAR, str(shared_imdb_cache))
    before = sorted(os.listdir(SHARED))
    t0 = time.perf_counter()
    ds = benchdata.load("rnn", data_dir=SHARED)
    t1 = time.perf_counter()
    again = benchdata.load("rnn", data_dir=SHARED)
    t2 = time.perf_counter()
    print(f"\nIMDB load from the tarball: {t1 - t0:.1f} s, from the cache: {t2 - t1:.2f} s")
    assert ds.x_train.shape == (25000, 500) and ds.x_val.shape == (25000, 500)
    assert ds.x_train.dtype == np.int32 and ds.y_train.dtype == np.float32
    for y in (ds.y_train, ds.y_val):
        assert np.bincount(y.astype(int)).tolist() == [12500, 12500]
    for x in (ds.x_train, ds.x_val):
        assert x.min() == 0 and x.max() < 5000 and x.max() >= 4990
        assert (x[:, -1] != 0).all()  # pre-padding: every review ends in a word
    assert 0.01 < (ds.x_val == 2).mean() < 0.2  # oov words exist, but are not the bulk
    assert ds.y_train[:10].tolist() == [0, 1] * 5  # interleaved order
    for u, v in zip(ds[:4], again[:4]):
        np.testing.assert_array_equal(u, v)
    assert t2 - t1 < (t1 - t0) / 3
    assert sorted(os.listdir(SHARED)) == before  # nothing written into the shared data
