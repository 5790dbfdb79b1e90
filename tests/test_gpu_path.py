"""The GPU path's checks that run without a GPU (issue 13): the last partial batch, the peak's
device, pip's CUDA libraries against a foreign LD_LIBRARY_PATH, the driver version, device
numbering, MIG, local dist_sync on GPUs and the smoke check, each on CPU with fakes."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest

import bench

ROOT = Path(__file__).resolve().parents[1]


def run_bench(*args, timeout=300):
    return subprocess.run([sys.executable, "bench.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- the last partial batch

@pytest.mark.parametrize("args, says", [
    # the command: 1025 = 8 x 128 + 1, one sample for two contexts
    (["--ctx", "cpu:0-1", "--batch-sizes", "128", "--max-samples", "1025"],
     "lenet's 1025 training samples leave a last batch of 1 for 2 contexts, which neither side "
     "can split; use --max-samples 1024"),
    # full data: IMDB's 25000 = 641 x 39 + 1
    (["--ctx", "cpu:0-2", "--batch-sizes", "39", "--scenario", "rnn"],
     "rnn's 25000 training samples leave a last batch of 1 for 3 contexts"),
    # dist_sync trains whole global batches only, but validation predicts every sample
    (["--ctx", "cpu:0-1", "--batch-sizes", "128", "--max-samples", "1025", "--kvstore",
      "dist_sync", "--workers", "1"], "1025 validation samples leave a last batch of 1"),
])
def test_a_last_batch_smaller_than_the_device_count_is_refused_in_one_line(args, says):
    done = run_bench(*args, "--data", "synthetic", timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in done.stderr


def test_a_last_batch_of_one_sample_per_context_is_measured_on_both_sides(tmp_path):
    # 258 = 2 x 128 + 2: the smallest last batch two contexts can split; both sides train it.
    out = tmp_path / "out"
    done = run_bench("--ctx", "cpu:0-1", "--batch-sizes", "128", "--max-samples", "258",
                     "--scenario", "lenet", "--data", "synthetic", "--epochs", "2", "--quiet",
                     "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["impl"]: r for r in read_csv(out / "runs.csv")}
    assert set(rows) == {"keras", "gluon"}
    for row in rows.values():
        assert row["status"] == "ok", row["reason"]
        assert (row["train_samples"], row["val_samples"]) == ("258", "258")
