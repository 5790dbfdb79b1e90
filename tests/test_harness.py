"""The figures harness.run_cell reports, and the fraction of peak bench.py adds, by known answers
from a fake implementation whose epoch times, CPU times and predictions are given."""
import json
import sys
import types

import numpy as np
import pytest

import bench
from cell import arms
from cell import contract, harness
import scenarios
from sweep import process

N = 96                                     # --max-samples: 96 training and 96 validation samples
EPOCH_SECONDS = [5.0, 2.0, 4.0, 3.0]       # the warm-up first
LOOP_CPU_SECONDS = [9.0, 1.0, 1.0, 1.5]
# LeNet's forward FLOPs per sample, by hand: conv 28x28x20 of 5x5x1, conv 14x14x50 of 5x5x20,
# dense 2450 -> 500, dense 500 -> 10; two FLOPs per multiply-add; training = 3 forwards.
LENET_TRAINING_FLOPS = 3 * 2 * (28 * 28 * 20 * 25 + 14 * 14 * 50 * 25 * 20 + 2450 * 500 + 500 * 10)


def fake_train(scenario, data, context, batch_size, epochs, order, progress=True, dtype="float32"):
    probabilities = np.full((len(data.y_val), scenario.classes), 0.05)
    probabilities[np.arange(len(data.y_val)), data.y_val.astype(int)] = 0.55  # all correct
    return contract.Trained(epoch_seconds=list(EPOCH_SECONDS), train_loss=0.25,
                           train_accuracy=0.75, val_probabilities=probabilities, val_seconds=0.5,
                           trainable_parameters=scenario.parameter_count(),
                           loop_cpu_seconds=list(LOOP_CPU_SECONDS))


@pytest.fixture
def fake_impl(monkeypatch):
    module = types.ModuleType("fake_impl")
    module.train = fake_train
    monkeypatch.setitem(sys.modules, "fake_impl", module)
    monkeypatch.setitem(arms.BY_NAME, "fake", arms.Arm("fake", "fake_impl", "Fake", "black", 9))


def cell(**overrides):
    return {"scenario": "lenet", "impl": "fake", "ctx": "cpu", "batch_size": 32, "epochs": 4,
            "data": "synthetic", "max_samples": N, "seed": 0, **overrides}


def test_run_cell_figures_by_known_answers(fake_impl):
    result = harness.run_cell(cell(), progress=False)
    assert LENET_TRAINING_FLOPS == 39_132_000
    assert result["flops_per_sample"] == LENET_TRAINING_FLOPS
    assert result["warmup_s"] == 5.0                 # epoch 1, reported apart
    assert result["epoch_s_median"] == 3.0           # median of 2, 4, 3: the warm-up excluded
    assert result["epoch_s_min"] == 2.0 and result["epoch_s_max"] == 4.0
    assert result["samples_per_s"] == 32.0           # 96 samples / 3 s
    assert result["gflops_per_s"] == 1.252           # 39.132 MFLOP x 32 / s
    assert result["loop_cpu_fraction"] == 0.3889     # (1 + 1 + 1.5) / (2 + 4 + 3)
    assert result["train_samples"] == result["val_samples"] == N
    assert result["val_loss"] == pytest.approx(round(-np.log(0.55), 5))
    assert result["val_accuracy"] == 1.0
    assert (result["train_loss"], result["train_accuracy"], result["val_s"]) == (0.25, 0.75, 0.5)
    assert result["devices"] == 1 and result["per_device_batch"] == 32


def test_loop_cpu_fraction_is_blank_without_cpu_times():
    trained = contract.Trained(epoch_seconds=[1.0, 2.0], train_loss=0, train_accuracy=0,
                              val_probabilities=None, val_seconds=0, trainable_parameters=0)
    assert harness.loop_cpu_fraction(trained) is None


@pytest.mark.slow
def test_peak_fraction_is_gflops_over_the_peak_json_beside_runs_csv(fake_impl, tmp_path,
                                                                    monkeypatch):
    # bench.py adds peak_fraction from <out>/peak.json; the cell's measured columns come from
    # run_cell on the fake implementation, in this process.
    out = tmp_path / "out"
    out.mkdir()
    (out / "peak.json").write_text(json.dumps({"gflops": 10.0}))
    measured_cells = []

    def run_one(planned, timeout, log_path=None, echo=True):
        measured_cells.append(planned)
        return harness.run_cell(dict(planned, impl="fake"), progress=False), None

    monkeypatch.setattr(process, "run_one", run_one)
    assert bench.main(["--scenario", "lenet", "--impl", "gluon", "--data", "synthetic",
                       "--max-samples", str(N), "--epochs", "4", "--batch-sizes", "32",
                       "--quiet", "--method", "rounds", "--out", str(out)]) == 0
    from report import storage

    [row] = storage.read_rows(out)
    assert len(measured_cells) == 1
    assert row["gflops_per_s"] == 1.252
    assert row["peak_fraction"] == 0.1252            # 1.252 / 10.0
