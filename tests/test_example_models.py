"""examples/models/ run as docs/your-model.md says: each builds, compiled, and each keras-fused
and keras-graph arm of it computes what keras does (or is refused for the reason documented in
the file), checked as bench.py --model checks them (python -m keras_models.user_model)."""
from pathlib import Path

import pytest
from sweep import model as sweep_model


EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"
ADADELTA = "keras-graph's Gluon loop has plain SGD and Adam only here; this model's optimizer " \
           "is Adadelta"

CASES = {   # spec: (keras-fused, keras-graph)
    "small_cnn.py": ("yes", "yes"),
    "lstm_classifier.py": ("yes", "yes"),
    "lstm_classifier.py:build_sigmoid": ("yes", "yes"),
    "gru_tagger.py": ("yes", "yes"),
    "keras_mnist_cnn.py": ("yes", ADADELTA),
    "keras_imdb_lstm.py": ("yes", "yes"),
    "mobilenet.py": ("yes", "keras-graph trains graphs without state updates"),
    "bidirectional_gru.py": ("yes", "yes"),
}


@pytest.mark.slow
@pytest.mark.parametrize("spec", list(CASES))
def test_example_is_verified_as_documented(spec):
    found, error = sweep_model.run_child(["verify", str(EXAMPLES / spec), "cpu", "keras-fused",
                                          "keras-graph"])
    assert error is None, error
    fused, graph = CASES[spec]
    assert found["keras-fused"] == fused
    assert found["keras-graph"] == graph or found["keras-graph"].startswith(graph)
