"""bench.py --model checks stock keras against Keras on TensorFlow where the reference is
installed (issue 30, item 5): the verdict is recorded in the keras rows' `verified`, and never
refuses the keras arm, which is what a keras-mxnet user gets; a checked arm (keras-fused) is
refused when it computes otherwise, as before."""
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance import REFERENCE_PYTHON
from shim.contexts import parse_list
from sweep import model as sweep_model

ROOT = Path(__file__).resolve().parents[1]
HAS_REFERENCE = Path(REFERENCE_PYTHON).exists()


def sweep_args(impl):
    return SimpleNamespace(model=str(ROOT / "examples/models/small_cnn.py"), impl=impl,
                           ctx=parse_list("cpu") + parse_list("cpu:0-1"), cell_timeout=60,
                           model_info={"name": "small_cnn.build"})


def test_without_the_reference_nothing_is_checked(monkeypatch, tmp_path):
    monkeypatch.setattr(sweep_model, "REFERENCE_PYTHON", str(tmp_path / "absent" / "python"))
    assert sweep_model.against_reference(sweep_args(["keras", "keras-fused"])) == {}


def test_the_keras_verdict_is_recorded_on_every_context_and_never_refuses(monkeypatch, tmp_path,
                                                                          capsys):
    (tmp_path / "python").write_text("")
    monkeypatch.setattr(sweep_model, "REFERENCE_PYTHON", str(tmp_path / "python"))
    said = "differs from tf.keras 2.15.1: the gradient of conv1#0 differs (max |difference| 0.2)"
    asked = []
    monkeypatch.setattr(sweep_model, "run_child",
                        lambda argv, **kw: asked.append((argv, kw["child"])) or ({"keras": said},
                                                                                 None))
    args = sweep_args(["keras", "keras-fused"])
    args.verified = sweep_model.against_reference(args)
    assert args.verified == {("keras", "cpu"): said, ("keras", "cpu:0-1"): said}
    assert asked == [([sweep_model.absolute_spec(args.model)], sweep_model.REFERENCE_CHECK)]
    assert "keras against Keras on TensorFlow: differs" in capsys.readouterr().out
    keras_cell = {"arm": "keras", "ctx": "cpu"}
    assert sweep_model.verdict(args, keras_cell) == said
    assert not sweep_model.refuses(args, keras_cell)
    args.verified["keras-fused", "cpu"] = "predictions differ (max |difference| 0.4)"
    assert sweep_model.refuses(args, {"arm": "keras-fused", "ctx": "cpu"})
    args.verified["keras-fused", "cpu"] = "yes"
    assert not sweep_model.refuses(args, {"arm": "keras-fused", "ctx": "cpu"})


def test_a_failed_check_is_said_not_raised(monkeypatch, tmp_path):
    (tmp_path / "python").write_text("")
    monkeypatch.setattr(sweep_model, "REFERENCE_PYTHON", str(tmp_path / "python"))
    monkeypatch.setattr(sweep_model, "run_child", lambda argv, **kw: (None, "boom"))
    verdicts = sweep_model.against_reference(sweep_args(["keras"]))
    assert verdicts["keras", "cpu"] == "the check against tf.keras failed: boom"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_REFERENCE, reason="no reference Keras (make setup-reference)")
@pytest.mark.parametrize("example, expected", [
    ("small_cnn.py", "yes (tf.keras "),
    ("bidirectional_gru.py", "yes (tf.keras "),
])
def test_example_models_against_the_reference(example, expected):
    from conformance import model_check

    assert model_check.check(str(ROOT / "examples/models" / example)).startswith(expected)


def test_an_ill_conditioned_model_is_judged_as_the_corpus_is(monkeypatch):
    # A BatchNorm-heavy user model whose training quantities differ from tf.keras beyond the
    # float32 tolerance but within CONDITIONED x stock's own spread: the corpus says `matches`
    # (conformance/run.py), and so must bench.py --model's check.
    import subprocess

    import numpy as np

    from conformance import model_check, run, verdict

    monkeypatch.setattr(model_check, "case_of", lambda spec: "case")
    monkeypatch.setattr(model_check.stock, "run", lambda case, work, nudge=False: {})

    def reference(argv, **kw):
        np.savez(Path(argv[-1]) / "reference.npz", tensorflow="2.15.1")
        return subprocess.CompletedProcess(argv, 0, "", "")
    monkeypatch.setattr(model_check.subprocess, "run", reference)
    monkeypatch.setattr(verdict, "compare", lambda out, ref, spreads=None: (
        {}, "the gradient of bn/gamma differs (max |difference| 0.02)"))
    judged = []
    monkeypatch.setattr(run, "_within_conditioning", lambda case, out, ref, first: (
        judged.append(first) or (None, "training within 8 x its float32 conditioning")))
    assert model_check.check("model.py") == "yes (tf.keras 2.15.1)"
    assert judged == ["the gradient of bn/gamma differs (max |difference| 0.02)"]
    monkeypatch.setattr(run, "_within_conditioning", lambda case, out, ref, first: (
        f"{first}, beyond 8 x its float32 conditioning", ""))
    assert model_check.check("model.py").startswith(
        "differs from tf.keras 2.15.1: the gradient of bn/gamma differs (max |difference| 0.02), "
        "beyond")
