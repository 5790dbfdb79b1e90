"""bench.py --model refuses what it cannot benchmark in one line with exit status 2, before any
training and without a results folder; and an arm that does not compute what stock keras does
on the model is refused for it by the verification, never timed, while the sweep goes on."""
import csv
from pathlib import Path

import pytest

import bench

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--max-samples", "32", "--batch-sizes", "16", "--epochs", "2", "--quiet"]
BAD_MODELS = '''
import keras
from keras import layers


def raises():
    raise ValueError("the model could not be made\\nwidth 0 is not a layer size")


def not_a_model():
    return "model"


def uncompiled():
    return keras.models.Sequential([layers.Dense(2, input_shape=(3,))])


def open_length():
    model = keras.models.Sequential([layers.Embedding(10, 2), layers.LSTM(3)])
    model.compile("sgd", "mse")
    return model


def build():
    model = keras.models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile("sgd", "mse")
    return model
'''


@pytest.fixture
def bad(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text(BAD_MODELS)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("model, extra, says", [
    ("missing.py", [], "no such Python file"),
    ("bad.py:nowhere", [], "bad.py has no function 'nowhere'"),
    ("bad.py:raises", [], "raises() raised ValueError: width 0 is not a layer size"),
    ("bad.py:not_a_model", [], "not_a_model() returned str, not a Keras model"),
    ("bad.py:uncompiled", [], "returned a model that is not compiled"),
    ("bad.py:open_length", [], "has shape (None, None), with an unknown dimension other than "
                               "the batch"),
    ("bad.py", ["--scenario", "lenet"], "--model and --scenario"),
    ("bad.py", ["--impl", "keras,gluon"], "--impl gluon needs a scenario"),
    ("bad.py", ["--impl", "torch"], "--impl torch needs a scenario"),
], ids=["no-file", "no-function", "raises", "not-a-model", "uncompiled", "unknown-dimension",
        "with-scenario", "gluon", "torch"])
def test_bad_input_is_one_line_and_exit_status_2(bad, tmp_path, capsys, model, extra, says):
    out = tmp_path / "out"
    spec = str(tmp_path / model)
    assert bench.main(["--model", spec, *extra, "--out", str(out), *TINY]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench.py: error: ") and says in lines[0], lines
    assert not out.exists()


@pytest.mark.slow
def test_a_fused_arm_that_computes_otherwise_is_refused_and_the_sweep_goes_on(tmp_path, capsys):
    # wrong_bias.py mutates the bias fix (+0.5 on every fused convolution) in each process that
    # imports it: the verification's, and the cells'.
    out = tmp_path / "out"
    assert bench.main(["--model", "tests/models/wrong_bias.py", "--impl",
                       "keras,keras-fused,keras-fused:rnn", "--out", str(out), *TINY]) == 0
    said = capsys.readouterr().out
    assert "wrong_bias.build keras-fused on cpu: refused, not timed: predictions differ" in said
    assert "first at layer conv2d_1" in said
    with open(out / "runs.csv", newline="") as f:
        rows = {r["arm"]: r for r in csv.DictReader(f)}
    refused = rows["keras-fused"]
    assert refused["status"] == "failed" and not refused["epoch_s_median"]
    assert refused["verified"].startswith("predictions differ") and "conv2d_1" in \
        refused["verified"]
    assert refused["reason"] == f"not verified: {refused['verified']}"
    # the fix left alone is verified, and it and keras are timed
    assert rows["keras-fused:rnn"]["verified"] == "yes"
    assert rows["keras-fused:rnn"]["status"] == rows["keras"]["status"] == "ok"
