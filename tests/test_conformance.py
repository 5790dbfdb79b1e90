"""Every conformance case holds its pinned verdicts, without TensorFlow: stock keras-mxnet
against the committed reference fixtures (tests/fixtures/conformance/, made by tf.keras), and
keras-fused against stock (docs/conformance.md).

expected.json pins today's verdict per case, defects included: a case that differs is pinned
as differing. When shim/ changes what a case computes, `make conformance` remakes the pins,
the table and the summary in one command. A whole application is `slow`.
"""
import os

import numpy as np
import pytest

from conformance import REFERENCE_PYTHON, fixtures, run, table
from conformance.corpus import corpus

CASES = corpus()
EXPECTED = table.read_expected()


def _param(name):
    marks = [pytest.mark.slow] if CASES[name].kind == "applications" else []
    return pytest.param(name, marks=marks, id=name)


def test_every_case_has_a_fixture_and_every_pinned_verdict_a_case():
    assert set(EXPECTED) <= set(CASES), "run `python -m conformance`"
    assert all(os.path.exists(fixtures.path(name)) for name in CASES), \
        "run `python -m conformance reference`"


def test_no_fixture_is_left_from_a_case_that_is_gone():
    known = {os.path.basename(fixtures.path(name)) for name in CASES} | {"expected.json"}
    assert set(os.listdir(fixtures.FIXTURES)) <= known


@pytest.mark.parametrize("name", [_param(n) for n in CASES if n in EXPECTED])
def test_case_holds_its_pinned_verdicts(name):
    row = run.evaluate(CASES[name])
    expected = EXPECTED[name]
    got = {"stock": row["stock"], "fused": run.fused_category(row["fused"])}
    assert got == expected, f"{row['detail']} | fused: {row['fused']}"
    if row["stock"] == "matches":   # every quantity was compared, and each is finite
        for column in ("predictions", "loss", "gradients", "sgd_step", "adam_step"):
            assert row[column] != "" and np.isfinite(float(row[column])), column


REGENERATED = ["Dense", "Conv2D:data_format=channels_first", "MaxPooling2D:data_format=channels_first",
               "BatchNormalization",
               "LSTM:masking=True", "Dropout", "examples.mnist_cnn"]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(REFERENCE_PYTHON),
                    reason="no reference environment (make setup-reference)")
def test_the_reference_makes_the_committed_fixtures_again(tmp_path):
    """tf.keras, run again, gives what the committed fixtures hold (within the tolerance)."""
    made = run.reference([CASES[n] for n in REGENERATED], folder=str(tmp_path))
    for name in REGENERATED:
        old, new = fixtures.read(name), fixtures.read(name, str(tmp_path))
        assert str(new["cannot"]) == str(old["cannot"]) == made[name]
        assert str(new["inputs"]) == str(old["inputs"])
        keys = {k for k in old if "/" in k or k == "loss"}
        assert keys == {k for k in new if "/" in k or k == "loss"}
        for key in keys:
            if isinstance(old[key], dict):
                assert np.allclose(old[key]["sample"], new[key]["sample"], rtol=2e-4, atol=1e-6)
            else:
                assert np.allclose(old[key], new[key], rtol=2e-4, atol=1e-6), (name, key)
