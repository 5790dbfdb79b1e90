"""Fixtures the tests share (plain helpers are in tests/helpers.py)."""
import pytest

from tests.helpers import ROOT


@pytest.fixture
def project_importable(monkeypatch):
    """A Python started from a script outside the checkout (a test's own harness script, which
    then runs the real one) imports the project's modules: PYTHONPATH names the checkout, as
    pytest.ini's `pythonpath` does for this process. bench.py passes its environment on to the
    cells, and records no PYTHONPATH in their rows."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
