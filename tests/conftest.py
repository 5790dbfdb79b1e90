"""Fixtures the tests share (plain helpers are in tests/helpers.py)."""
import ctypes
import gc

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


try:   # glibc's; elsewhere nothing to return
    _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _MALLOC_TRIM = None


@pytest.fixture(autouse=True)
def memory_returned(request):
    """After a slow test (it trains real models), the memory its models freed goes back to the
    system: glibc keeps freed blocks in its arenas, so a pytest worker kept the high-water mark
    of every application it had run, and two of them (make test runs two) had the kernel kill
    one at 15.6 GB of 23. malloc_trim(0) took a worker from 3.6 GB after ResNet50's case back to
    0.4 GB, where setting MALLOC_MMAP_THRESHOLD_ instead slowed NASNetLarge's from 190 s to
    316 s."""
    yield
    if _MALLOC_TRIM is not None and request.node.get_closest_marker("slow"):
        gc.collect()
        _MALLOC_TRIM(0)
