"""distributed/: one cell on MXNet's parameter server (kvstore dist_sync) on 127.0.0.1.

A group is a scheduler, servers and workers started as local processes; these tests check that
two workers end with identical parameters that match one process training the same global
batches, and that a dead worker, a failing worker or a timeout stops the whole group with a
one-line reason and leaves no process behind.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import distributed
from distributed import local, rows, worker

# the machine to itself (pytest.ini: serial)
pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parents[1]
CELL = {"scenario": "lenet", "impl": "gluon", "ctx": "cpu", "batch_size": 64, "epochs": 2,
        "data": "synthetic", "max_samples": 512, "seed": 0, "quiet": True}
MARK = "KERAS_MXNET_BENCH_TEST_GROUP"   # set in every member's environment, to find them


def group_processes(mark):
    """pids of live processes whose environment carries MARK=mark."""
    needle = f"{MARK}={mark}".encode() + b"\0"
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                status = (entry / "status").read_text()
                if "\nState:\tZ" not in status:   # a zombie is gone, only not reaped
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_shards_make_up_the_global_batches():
    index = np.random.default_rng(0).permutation(1000)
    workers, batch = 4, 64                      # 15 whole global batches; 40 samples left out
    shards = [worker.shard(index, r, workers, batch) for r in range(workers)]
    assert {len(s) for s in shards} == {15 * 16}
    for k in range(15):
        parts = np.concatenate([s[k * 16:(k + 1) * 16] for s in shards])
        assert sorted(parts) == sorted(index[k * batch:(k + 1) * batch])
    assert len(worker.shard(index, 0, 1, batch)) == 960


def test_aggregate_sums_samples_and_compares_digests():
    def row(rank, median, digest):
        return {"rank": rank, "train_samples": 256, "epoch_s_median": median, "epoch_s_min": median,
                "epoch_s_max": median, "warmup_s": 1.0, "samples_per_s": 256 / median,
                "train_loss": 1.0 + rank, "train_accuracy": 0.5, "val_loss": 2.0 + rank,
                "flops_per_sample": 10, "peak_rss_mb": 100.0 + rank, "kvstore": "dist_sync",
                "workers": 2, "param_sha256": digest, "param_sum": 1.5}
    same = rows.aggregate([row(1, 0.5, "ab"), row(0, 0.25, "ab")], servers=1)
    assert same["train_samples"] == 512 and same["epoch_s_median"] == 0.5
    assert same["samples_per_s"] == 1024.0                 # 512 samples / the slowest median
    assert same["train_loss"] == 1.5 and same["val_loss"] == 2.0      # rank 0's validation
    assert same["per_worker"] == "0:1024.0;1:512.0" and same["param_check"] == "identical"
    assert same["peak_rss_mb"] == 101.0 and "param_sha256" not in same and "rank" not in same
    different = rows.aggregate([row(0, 0.5, "ab"), row(1, 0.5, "cd")], servers=1)
    assert different["param_check"].startswith("DIFFERENT (0:sum=1.5")


def one_process(cell, folder):
    """The cell's measured row from a fresh process, as bench.py runs a cell: both sides draw
    initial weights from MXNet's generator at its default seed, which any training earlier in
    this test process has moved on."""
    result = folder / "single.json"
    subprocess.run([sys.executable, "-m", "cell", json.dumps(cell), str(result)], cwd=ROOT,
                   check=True, capture_output=True, timeout=120)
    return json.loads(result.read_text())


@pytest.mark.slow
def test_two_workers_train_identical_parameters_matching_one_process(tmp_path):
    mark = uuid.uuid4().hex
    started = time.monotonic()
    row = distributed.run_cell(CELL, workers=2, servers=1, timeout_s=60, env={MARK: mark})
    assert time.monotonic() - started < 60
    assert row["param_check"] == "identical"
    assert (row["workers"], row["servers"], row["kvstore"]) == (2, 1, "dist_sync")
    assert row["train_samples"] == 512 and row["per_device_batch"] == 32
    assert re.fullmatch(r"0:[\d.]+;1:[\d.]+", row["per_worker"])
    # the same cell in one process (batches of 64): the same global batches, so the same model
    single = one_process(CELL, tmp_path)
    assert row["val_loss"] == pytest.approx(single["val_loss"], abs=1e-4)
    assert row["train_loss"] == pytest.approx(single["train_loss"], abs=1e-4)
    assert group_processes(mark) == []


@pytest.mark.slow
def test_killed_worker_ends_the_group_with_role_rank_and_status(tmp_path):
    mark = uuid.uuid4().hex
    cell = dict(CELL, epochs=200)   # far longer than the test waits
    outcome = {}

    def run():
        try:
            distributed.run_cell(cell, workers=2, servers=1, timeout_s=60, env={MARK: mark},
                                 log_dir=tmp_path)
        except distributed.DistributedError as error:
            outcome["error"] = error
        outcome["at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 40
    while not all((tmp_path / f"rank-{i}").exists() for i in range(2)):  # both joined the group
        assert time.monotonic() < deadline and thread.is_alive(), outcome
        time.sleep(0.1)
    index = next(i for i in range(2) if (tmp_path / f"rank-{i}").read_text() == "1")
    result = str(tmp_path / f"result-{index}.json")
    pid = next(int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
               and result.encode() in _cmdline(p))
    time.sleep(1.0)                 # mid-training
    killed_at = time.monotonic()
    os.kill(pid, 9)
    thread.join(30)
    assert not thread.is_alive()
    assert str(outcome["error"]) == "worker 1 was killed by SIGKILL (exit status -9)"
    assert outcome["at"] - killed_at < local.GRACE_S + 3
    assert group_processes(mark) == []


def _cmdline(proc):
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.slow
def test_timeout_stops_everything_and_names_what_was_running():
    mark = uuid.uuid4().hex
    started = time.monotonic()
    with pytest.raises(distributed.DistributedError) as caught:
        distributed.run_cell(dict(CELL, epochs=200), workers=2, servers=1, timeout_s=3,
                             env={MARK: mark})
    assert time.monotonic() - started < 3 + local.GRACE_S + 3
    message = str(caught.value)
    assert message.startswith("timed out after 3 s; scheduler, server 0, ")
    assert message.endswith(" still running") and "\n" not in message
    assert group_processes(mark) == []


def test_failing_worker_reports_the_harness_reason():
    mark = uuid.uuid4().hex
    with pytest.raises(distributed.DistributedError) as caught:
        distributed.run_cell(dict(CELL, scenario="nope"), workers=2, servers=1, timeout_s=60,
                             env={MARK: mark})
    assert re.fullmatch(r"worker process [01] \(no rank yet\) died with exit status 1: "
                        r"cell failed: ValueError: unknown scenario 'nope'.*", str(caught.value))
    assert group_processes(mark) == []


FAILING_WORKER = """
import runpy, sys
from mxnet import gluon
step, steps = gluon.Trainer.step, []
def failing_step(self, *args, **kwargs):
    steps.append(1)
    if len(steps) == 4 and self._kvstore.rank == 1:
        raise RuntimeError("injected failure")
    return step(self, *args, **kwargs)
gluon.Trainer.step = failing_step
assert sys.argv[1:3] == ["-m", "cell"], sys.argv   # the worker's command, as python runs it
sys.argv = [sys.argv[0]] + sys.argv[3:]
runpy.run_module("cell", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
def test_worker_failing_mid_training_exits_at_once_and_ends_the_group(tmp_path):
    # without Worker's exit hook, the failed worker's ps-lite finalize waits for the others
    # forever, and only the timeout would end the group
    (tmp_path / "failing.py").write_text(FAILING_WORKER)
    python = tmp_path / "python"
    python.write_text(f'#!/bin/bash\nif [ "$1" = "-c" ]; then exec {sys.executable} "$@"; fi\n'
                      f'exec {sys.executable} {tmp_path / "failing.py"} "$@"\n')
    python.chmod(0o755)
    mark = uuid.uuid4().hex
    started = time.monotonic()
    with pytest.raises(distributed.DistributedError) as caught:
        distributed.run_cell(dict(CELL, epochs=200), workers=2, servers=1, timeout_s=60,
                             python=str(python), env={MARK: mark, "PYTHONPATH": str(ROOT)})
    assert time.monotonic() - started < 30
    assert str(caught.value) == ("worker 1 died with exit status 1: cell failed: RuntimeError: "
                                 "injected failure")
    assert group_processes(mark) == []


def test_refuses_what_dist_sync_cannot_run():
    with pytest.raises(distributed.DistributedError, match="does not split over 3 workers x 1"):
        distributed.run_cell(CELL, workers=3, servers=1, timeout_s=10)
    with pytest.raises(distributed.DistributedError, match="over 2 workers x 3 devices"):
        distributed.run_cell(dict(CELL, ctx="cpu:0-2"), workers=2, servers=1, timeout_s=10)
    with pytest.raises(distributed.DistributedError, match="bad context 'gpu:0-x'"):
        distributed.run_cell(dict(CELL, ctx="gpu:0-x"), workers=2, servers=1, timeout_s=10)
    with pytest.raises(distributed.DistributedError, match="'dist_async' is not supported"):
        distributed.run_cell(dict(CELL, kvstore="dist_async"), workers=2, servers=1, timeout_s=10)


def test_the_row_from_result_files_made_elsewhere(tmp_path):
    # python -m distributed --aggregate: the last step of the multi-host recipe
    made = [dict(rank=rank, train_samples=128, epoch_s_median=0.5 + rank, epoch_s_min=0.5,
                 epoch_s_max=2.0, warmup_s=1.0, samples_per_s=100.0, train_loss=0.5,
                 train_accuracy=0.5, flops_per_sample=1000, peak_rss_mb=100.0 + rank,
                 kvstore="dist_sync", param_sha256="ab", param_sum=1.0) for rank in (1, 0)]
    files = []
    for row in made:
        files.append(tmp_path / f"result-{row['rank']}.json")
        files[-1].write_text(json.dumps(row))
    done = subprocess.run([sys.executable, "-m", "distributed", "--aggregate", *map(str, files),
                           "--servers", "2"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == rows.aggregate(made, servers=2)
    assert json.loads(done.stdout)["servers"] == 2


@pytest.mark.slow
def test_keras_on_dist_sync_through_the_shim(tmp_path):
    # keras-mxnet's compile(kvstore='dist_sync'): honoured, optimizer run by the servers, rank 0's
    # initial weights, gradients normalized by the global batch (see shim/keras_mxnet.py)
    mark = uuid.uuid4().hex
    cell = dict(CELL, impl="keras")
    row = distributed.run_cell(cell, workers=2, servers=1, timeout_s=60, env={MARK: mark})
    assert row["param_check"] == "identical"
    single = one_process(cell, tmp_path)
    assert row["val_loss"] == pytest.approx(single["val_loss"], abs=1e-4)
    assert row["train_loss"] == pytest.approx(single["train_loss"], abs=1e-4)
    assert group_processes(mark) == []


def test_bundled_launcher_runs_on_this_python_through_the_shim(tmp_path):
    # mxnet/tools/launch.py + dmlc_tracker call Thread.isAlive (gone since Python 3.9). The local
    # launcher returns when the scheduler's command does (the others run in daemon threads), so
    # this scheduler waits for the other three to have checked in.
    script = tmp_path / "role.sh"
    script.write_text(
        '#!/bin/bash\n'
        f'cd {tmp_path}\n'
        'echo "$DMLC_NUM_WORKER $DMLC_NUM_SERVER" > "$DMLC_ROLE-$$"\n'
        'if [ "$DMLC_ROLE" = scheduler ]; then\n'
        '  for i in $(seq 200); do [ $(ls worker-* server-* 2>/dev/null | wc -l) = 3 ] && break;'
        ' sleep 0.1; done\n'
        'fi\n')
    script.chmod(0o755)
    done = subprocess.run([sys.executable, "-m", "shim.launch", "-n", "2", "-s", "1",
                           "--launcher", "local", str(script)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    checked_in = sorted(f.name.split("-")[0] for f in tmp_path.iterdir() if "-" in f.name)
    assert checked_in == ["scheduler", "server", "worker", "worker"]
    assert {f.read_text() for f in tmp_path.iterdir() if "-" in f.name} == {"2 1\n"}


def test_keras_optimizers_go_to_the_servers_as_mxnet_optimizers():
    import pickle

    import mxnet as mx

    from shim.keras_mxnet import _as_mxnet, keras

    adam = keras.optimizers.Adam(lr=0.002, beta_1=0.8, beta_2=0.99, epsilon=1e-7)
    with pytest.raises(Exception, match="Can't pickle local object"):
        pickle.dumps(adam, 0)                      # what kv.set_optimizer does, unpatched
    plain = pickle.loads(pickle.dumps(_as_mxnet(adam), 0))
    assert type(plain) is mx.optimizer.Adam
    # the learning rate as keras-mxnet applies it: its float32 variable's value
    assert plain.lr == float(np.float32(0.002))
    assert (plain.beta1, plain.beta2, plain.epsilon) == (0.8, 0.99, 1e-7)
    assert type(_as_mxnet(keras.optimizers.SGD(lr=0.05))) is mx.optimizer.SGD
    with pytest.raises(ValueError, match=r"decay=0\.01\) can't run on a dist kvstore"):
        _as_mxnet(keras.optimizers.SGD(lr=0.05, decay=0.01))
