"""peak.py: the machine's FP32 GEMM rate through MXNet and numpy, and its JSON file."""
import json
import math

import pytest

import peak


def test_measure_peak_is_positive_and_finite():
    r = peak.measure_peak(seconds=0.3)
    assert r["library"] == "mxnet" and r["matrix"] == peak.MATRIX
    for key in ("gflops", "numpy_gflops", "seconds"):
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] > 0, key
    json.dumps(r)


def test_save_load_round_trip(tmp_path):
    result = {"gflops": 123.4, "library": "mxnet", "numpy_gflops": 99.9, "matrix": 2048,
              "seconds": 3.01}
    path = tmp_path / "peak.json"
    peak.save_peak(path, result)
    assert peak.load_peak(path) == result


@pytest.mark.parametrize("content", ['{"gflops": 0}', '{"library": "mxnet"}', '[1, 2]',
                                     '{"gflops": "fast"}'])
def test_load_refuses_a_file_without_a_peak(tmp_path, content):
    path = tmp_path / "peak.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="gflops"):
        peak.load_peak(path)


def test_main_prints_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert peak.main(["0.2"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "GFLOP/s" in out
    assert list(tmp_path.iterdir()) == []  # writes nothing
