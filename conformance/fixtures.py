"""The reference's outputs as small committed fixtures (tests/fixtures/conformance/), so that
the verdicts hold without TensorFlow.

One compressed npz per case, named by exchange.folder_name, holding what reference.npz held
plus `case`, `tensorflow` (the version that made it), `inputs` (a digest of the inputs and
targets the stock side must draw again) and `cannot` (why tf.keras cannot run the case, or '').
An array of more than FULL elements (an application's gradients and weights), and every array
of more than SAMPLES elements in a case with more than MANY arrays, is stored as a digest: its largest |element|, its L2 norm and SAMPLES elements at positions drawn from its
size, all of a case's digests in one table (`digest/keys`, `digest/shapes`, `digest/sample`,
`digest/absmax`, `digest/norm`: an npz entry per array would cost more than the numbers); the
comparison (verdict.py) checks those, and says so.
"""
import hashlib
import os

import numpy as np

from conformance import FIXTURES
from conformance.exchange import folder_name

FULL = 512
SAMPLES = 8
MANY = 300   # a case with more arrays than this (an application) keeps a digest of each


def path(case_name, folder=FIXTURES):
    return os.path.join(folder, folder_name(case_name) + ".npz")


def in_floatx(case_name, floatx):
    """The fixture name of a case computed in `floatx`: its own name for float32, and
    `NAME@float64` for verdict.py's second judgement in float64."""
    return case_name if floatx == "float32" else f"{case_name}@{floatx}"


def positions(size, count=SAMPLES):
    """Where a digest samples an array of `size` elements (count: as many as it holds)."""
    return np.sort(np.random.default_rng(size).choice(size, min(size, count), replace=False))


def digest_of(arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def pack(name, reference, inputs, cannot="", tensorflow="", floatx="float32"):
    """The fixture's entries from a reference.npz's (or None) and the stock side's inputs;
    its numbers kept in `floatx`, the precision the case was computed in."""
    out = {"case": np.array(name), "inputs": np.array(inputs), "cannot": np.array(cannot or ""),
           "tensorflow": np.array(tensorflow)}
    digests = []
    full = SAMPLES if len(reference or {}) > MANY else FULL
    for key, value in (reference or {}).items():
        if key == "tensorflow":
            continue
        value = np.asarray(value)
        if value.size <= full:
            out[key] = value.astype(floatx) if value.dtype.kind == "f" else value
        else:
            flat = value.astype(np.float64).ravel()
            sample = np.zeros(SAMPLES)
            sample[:] = flat[positions(flat.size)]
            digests.append((key, ",".join(map(str, value.shape)), sample,
                            np.abs(flat).max(), np.sqrt((flat ** 2).sum())))
    if digests:
        keys, shapes, samples, absmax, norm = zip(*digests)
        out.update({"digest/keys": np.array(keys), "digest/shapes": np.array(shapes),
                    "digest/sample": np.array(samples, floatx),
                    "digest/absmax": np.array(absmax), "digest/norm": np.array(norm)})
    return out


def write(name, entries, folder=FIXTURES):
    os.makedirs(folder, exist_ok=True)
    np.savez_compressed(path(name, folder), **entries)


def read(name, folder=FIXTURES):
    """{key: array or digest dict} of a case's fixture; None where there is none."""
    p = path(name, folder)
    if not os.path.exists(p):
        return None
    with np.load(p) as f:
        raw = {k: f[k] for k in f.files}
    out = {k: v for k, v in raw.items() if not k.startswith("digest/")}
    if "digest/keys" in raw:
        for i, key in enumerate(raw["digest/keys"]):
            out[str(key)] = {"shape": tuple(int(d) for d in str(raw["digest/shapes"][i]).split(",")),
                             "sample": raw["digest/sample"][i], "absmax": raw["digest/absmax"][i],
                             "norm": raw["digest/norm"][i]}
    for key in [k for k in out if "|" in k]:   # fixtures of the first format, a key per part
        base, part = key.split("|")
        out.setdefault(base, {})[part] = out.pop(key)
    return out
