"""report/drawn.py: a chart's cache key is its data and DRAWING_VERSION, never the report's source
(so a refactoring redraws nothing), and a redrawn PNG is byte-for-byte the same."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image  # noqa: E402

from report import drawn  # noqa: E402


def _draw(path, key):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [2, 1, 3])
    return drawn.save(fig, path, key, dpi=50)


def test_the_key_is_the_data_and_the_drawing_version(monkeypatch):
    key = drawn.key_of("throughput", "label", [{"a": 1}])
    assert drawn.key_of("throughput", "label", [{"a": 1}]) == key
    assert drawn.key_of("throughput", "label", [{"a": 2}]) != key
    monkeypatch.setattr(drawn, "DRAWING_VERSION", drawn.DRAWING_VERSION + 1)
    assert drawn.key_of("throughput", "label", [{"a": 1}]) != key   # a bump redraws


def test_a_redrawn_png_has_the_same_bytes_and_is_current(tmp_path):
    key = drawn.key_of("x")
    first, second = _draw(tmp_path / "a.png", key), _draw(tmp_path / "b.png", key)
    assert first.read_bytes() == second.read_bytes()
    with Image.open(first) as image:
        assert "Software" not in image.info   # matplotlib's version would change the bytes
    assert drawn.current(first, key) and not drawn.current(first, drawn.key_of("y"))
    assert not drawn.current(tmp_path / "missing.png", key)
