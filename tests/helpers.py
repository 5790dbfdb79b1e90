"""Helpers the tests share, imported as `tests.helpers` (pytest.ini puts the checkout on the
path); the fixtures they share are in tests/conftest.py."""
import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shim import precision

ROOT = Path(__file__).resolve().parents[1]


def read_csv(path):
    """The rows of a CSV file (runs.csv, ratios.csv) as dicts of strings, as a reader of the
    file sees them."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run_python(code, timeout=120):
    """`code` (dedented) in a fresh Python in the checkout's root: a fresh process where the
    state of this one (MXNet's generators, imported modules) must not leak in."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def python_json(code, timeout=120):
    """The JSON that `code`, run by run_python, prints on its last line; it must succeed."""
    done = run_python(code, timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# The result file a fake harness writes, in the shape cell/harness.py writes it: `timed` is the
# timed epochs' seconds, `extra` more columns.
FAKE_RESULT = """
median = sorted(timed)[len(timed) // 2]
json.dump({"epoch_s_median": median, "epoch_s_min": min(timed), "epoch_s_max": max(timed),
           "epoch_s_timed": timed, "samples_per_s": 64 / median, "gflops_per_s": 1.0,
           "devices": 1, "train_samples": 64, "data": "synthetic", "val_accuracy": 0.5, **extra},
          open(sys.argv[2], "w"))
"""


def fake_harness(tmp_path, epochs, name="fake_harness.py"):
    """A harness command that trains nothing, for sweep.process.HARNESS: bench.py, its rows and
    reports are the real ones. `epochs` is Python source that sets `timed`, the seconds of the
    timed epochs (and may set `extra`, more columns of the result), from `cell`, the cell that
    bench.py passed; json, os, sys and time are imported."""
    script = tmp_path / name
    script.write_text("import json, os, sys, time\ncell = json.loads(sys.argv[1])\nextra = {}\n"
                      + textwrap.dedent(epochs) + FAKE_RESULT)
    return [sys.executable, str(script)]


def cell_row(impl, epoch_s, **columns):
    """A finished cell's row as the report reads it: lenet on one CPU context at batch 128,
    status ok; `columns` add to it or override it (arm, round, samples_per_s, ...)."""
    return {"scenario": "lenet", "impl": impl, "ctx": "cpu", "batch_size": 128, "status": "ok",
            "epoch_s_median": epoch_s, **columns}


# Tests that run a bfloat16 step: oneDNN has bfloat16 Convolution on AVX-512 CPUs only
# (shim/precision.py: bfloat16_kernels); elsewhere bench.py refuses --dtype bfloat16.
needs_bfloat16 = pytest.mark.skipif(precision.bfloat16_kernels() is False,
                                    reason="no AVX-512 on this CPU: oneDNN has no bfloat16 "
                                           "Convolution here")
