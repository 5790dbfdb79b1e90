"""bench.py --model FILE.py[:FUNCTION]: a user's Keras model runs through the sweep's arms on
synthetic data shaped from it, and its rows say which model, how big, and which file version
(keras_models/user_model.py, sweep/model.py, docs/your-model.md). No timing is asserted."""
import hashlib
from pathlib import Path

import numpy as np
import pytest

from conformance import REFERENCE_PYTHON

import bench
from tests.helpers import read_csv

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "models"
TINY = ["--max-samples", "32", "--batch-sizes", "16", "--epochs", "2", "--quiet"]


@pytest.mark.slow
def test_a_model_with_conv2d_lstm_and_embedding_runs_every_keras_arm(tmp_path, capsys):
    spec = "tests/models/conv_lstm_tokens.py"
    out = tmp_path / "out"
    assert bench.main(["--model", spec, "--impl", "keras,keras-graph,keras-fused",
                       "--out", str(out), *TINY]) == 0
    said = capsys.readouterr().out
    assert "verified on one batch: keras-fused, keras-graph compute what keras does" in said
    rows = read_csv(out / "runs.csv")
    assert sorted(r["arm"] for r in rows) == ["keras", "keras-fused", "keras-graph"]
    digest = hashlib.sha256((ROOT / spec).read_bytes()).hexdigest()
    for row in rows:
        assert row["status"] == "ok", row["reason"]
        assert row["scenario"] == "conv_lstm_tokens.build"
        assert (row["model_file"], row["model_sha256"]) == (spec, digest)
        assert row["data"] == "synthetic" and row["train_samples"] == "32"
        # Embedding 30x8 + Conv2D 1->4 3x3 + LSTM(6) on 8 features + Dense 6->3
        assert int(row["parameters"]) == 240 + 40 + 4 * 6 * (8 + 6 + 1) + 21
        # keras: its check against Keras on TensorFlow where the reference is installed
        keras_verdict = "yes (tf.keras 2.15.1)" if Path(REFERENCE_PYTHON).exists() else ""
        assert row["verified"] == (keras_verdict if row["arm"] == "keras" else "yes")
    fused = next(r for r in rows if r["arm"] == "keras-fused")
    assert fused["fused_layers"] == "conv2d_1:bias lstm_1:rnn dense_1:dense"
    # the same function, the same data, the same initial weights: the same training loss
    losses = {r["arm"]: float(r["train_loss"]) for r in rows}
    assert np.allclose(list(losses.values()), losses["keras"], rtol=1e-3), losses


def test_synthetic_data_fits_each_input_and_each_loss():
    from keras_models import user_model

    model = user_model.build(str(MODELS / "conv_lstm_tokens.py:two_ways"))
    data = user_model.synthetic_data(model, 20, seed=0)
    tokens, features = data.x_train
    kinds, sizes = data.y_train
    assert tokens.shape == (20, 12) and tokens.min() >= 0 and tokens.max() < 30
    assert np.array_equal(tokens, tokens.round())   # token ids, for the Embedding
    assert features.shape == (20, 5) and features.dtype == np.float32
    assert kinds.shape == (20, 1) and set(np.unique(kinds)) <= {0, 1}   # sparse classes
    assert sizes.shape == (20, 1) and len(np.unique(sizes)) > 2          # reals, for mse
    again = user_model.synthetic_data(user_model.build(str(MODELS / "conv_lstm_tokens.py:"
                                                           "two_ways")), 20, seed=0)
    assert np.array_equal(again.x_train[0], tokens)   # seeded: every arm sees these arrays
    model.fit(data.x_train, data.y_train, batch_size=10, epochs=1, verbose=0)   # fit takes them
