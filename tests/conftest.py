"""Fixtures the tests share (plain helpers are in tests/helpers.py)."""
import pytest

from tests.helpers import ROOT

_CANARY = []   # the one real canary reading of this test session, once a sweep has taken it


@pytest.fixture
def project_importable(monkeypatch):
    """A Python started from a script outside the checkout (a test's own harness script, which
    then runs the real one) imports the project's modules: PYTHONPATH names the checkout, as
    pytest.ini's `pythonpath` does for this process. bench.py passes its environment on to the
    cells, and records no PYTHONPATH in their rows."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


@pytest.fixture(autouse=True)
def one_canary_reading(request, monkeypatch):
    """A sweep run in this process (bench.main) records, for every cell, the first real canary
    reading of the session instead of starting the canary's process again: ~0.2-0.5 s a cell,
    and no test here asserts what the canary read, only that a row has one (the canary's own
    tests, marked real_canary, run its process every time). Sweeps run as a subprocess are
    untouched."""
    if request.node.get_closest_marker("real_canary"):
        return
    from cell import noise

    measure = noise.canary_ms

    def canary_ms():
        if not _CANARY or _CANARY[0] is None:
            _CANARY[:] = [measure()]
        return _CANARY[0]

    monkeypatch.setattr(noise, "canary_ms", canary_ms)
