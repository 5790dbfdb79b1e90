"""cell/peak.py: the machine's FP32 GEMM rate through MXNet and numpy, and its JSON file."""
import json
import math

import numpy as np
import pytest

from cell import peak


@pytest.mark.slow
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


@pytest.mark.slow
def test_main_prints_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert peak.main(["0.2"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "GFLOP/s" in out
    assert list(tmp_path.iterdir()) == []  # writes nothing


def test_rate_is_two_n_cubed_over_the_median_product_time(monkeypatch):
    # A fake clock: each product of n = 1000 takes the given seconds (warm-ups 100 s, which
    # must not count; one slow product, which the median ignores).
    durations = iter([100.0, 100.0, 0.5, 0.4, 7.0, 0.5, 0.6])
    clock = [0.0]
    monkeypatch.setattr(peak.time, "perf_counter", lambda: clock[0])
    products = []

    def multiply():
        products.append(1)
        clock[0] += next(durations)

    gflops, spent = peak._rate(multiply, 1000, seconds=9.0)
    assert len(products) == 7                   # 2 warm-ups, then until 9 s and 3 products
    assert gflops == pytest.approx(2 * 1000 ** 3 / 0.5 / 1e9)   # 4 GFLOP/s
    assert spent == pytest.approx(9.0)


def test_measure_peak_times_a_product_of_the_size_it_reports(monkeypatch):
    # The rate is 2 n^3 over the time of one real n x n product: fix each product's time at 1 s
    # on a fake clock and the rate is 2 n^3 / 1e9, for MXNet and numpy alike.
    import mxnet as mx

    clock = [0.0]
    sizes = []
    real_dot, real_np_dot = mx.nd.dot, np.dot

    def mx_dot(a, b):
        sizes.append(a.shape + b.shape)
        clock[0] += 1.0
        return real_dot(a, b)

    def np_dot(a, b, out=None):
        sizes.append(a.shape + b.shape)
        clock[0] += 1.0
        return real_np_dot(a, b, out=out)

    monkeypatch.setattr(peak.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(mx.nd, "dot", mx_dot)
    monkeypatch.setattr(np, "dot", np_dot)
    r = peak.measure_peak(seconds=2.5, n=512)
    assert set(sizes) == {(512, 512, 512, 512)}
    assert r["gflops"] == r["numpy_gflops"] == 0.27   # 2 x 512^3 FLOPs in 1 s
    assert r["matrix"] == 512 and r["seconds"] == 3.0
