"""This machine's sustained FP32 matrix-multiply rate: the roof the benchmark's GFLOP/s are read against.

    python -m cell.peak [SECONDS]       prints one line; writes nothing

A large square float32 GEMM (2 n^3 flops a product) is run on the CPU through MXNet (`mx.nd.dot`,
the library under test, whose rate is the reference peak) and through numpy (reported beside
it). Each side is warmed up, then repeats the product for about `seconds`, waiting for each result
before the next (`wait_to_read`); the rate is 2 n^3 over the median product time, which one burst
of load from another process does not move. bench.py calls `measure_peak()` for
`python bench.py --peak` and keeps the result with `save_peak` in results/<label>/peak.json, with
the device it was measured on ('cpu'): only rows of that device kind are read against it.
There is no GPU peak: none measured through mx.gpu could be checked here (no GPU MXNet runs on
was at hand, and cuBLAS may route an FP32 GEMM through TF32 tensor cores on Ampere), so GPU rows
get no peak fraction.
"""
import json
import math
import statistics
import sys
import time

import numpy as np

MATRIX = 2048   # 17 GFLOP a product: long enough to hide call overhead, small enough for 2 cores
WARMUP = 2
MIN_PRODUCTS = 3


def _rate(multiply, n, seconds):
    """GFLOP/s of `multiply()` (one n x n product, returned only when done), repeated back to
    back for about `seconds`: from the median product time, so that a moment of interference
    from another process does not set the figure. Returns (GFLOP/s, seconds spent)."""
    for _ in range(WARMUP):
        multiply()
    times, start = [], time.perf_counter()
    while True:
        begin = time.perf_counter()
        multiply()
        end = time.perf_counter()
        times.append(end - begin)
        if end - start >= seconds and len(times) >= MIN_PRODUCTS:
            break
    return 2.0 * n ** 3 / statistics.median(times) / 1e9, end - start


def measure_peak(seconds=3.0, n=MATRIX):
    """{'gflops', 'library': 'mxnet', 'numpy_gflops', 'matrix', 'seconds'}: 'seconds' is the
    time measured for the MXNet rate (the numpy rate takes about as long again)."""
    import shim
    from shim import arrays

    mx = shim.import_mxnet()
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = rng.standard_normal((n, n), dtype=np.float32)

    a, b = arrays.ndarray(a_np, dtype="float32"), arrays.ndarray(b_np, dtype="float32")
    mx.nd.waitall()
    gflops, elapsed = _rate(lambda: mx.nd.dot(a, b).wait_to_read(), n, seconds)
    mx.nd.waitall()

    out = np.empty((n, n), dtype=np.float32)
    numpy_gflops, _ = _rate(lambda: np.dot(a_np, b_np, out=out), n, seconds)
    return {"gflops": round(gflops, 2), "library": "mxnet", "device": "cpu",
            "numpy_gflops": round(numpy_gflops, 2), "matrix": n, "seconds": round(elapsed, 3)}


def save_peak(path, result):
    """Write a measure_peak() result as JSON (the directory must exist)."""
    with open(path, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")


def load_peak(path):
    """A result saved by save_peak; ValueError if the file holds no usable peak."""
    with open(path) as f:
        result = json.load(f)
    gflops = result.get("gflops") if isinstance(result, dict) else None
    if not isinstance(gflops, (int, float)) or not math.isfinite(gflops) or gflops <= 0:
        raise ValueError(f"{path}: no positive 'gflops' in the peak file")
    if device_of(result) not in DEVICES:
        raise ValueError(f"{path}: 'device' is {result['device']!r}, not one of {', '.join(DEVICES)}")
    return result


DEVICES = ("cpu", "gpu")


def device_of(result):
    """The device kind a peak was measured on: a rate is the roof of that kind's rows only.
    Files written before the field existed hold a CPU rate (measure_peak runs on mx.cpu())."""
    return result.get("device") or "cpu"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    seconds = float(argv[0]) if argv else 3.0
    r = measure_peak(seconds)
    print(f"peak FP32 GEMM ({r['matrix']}x{r['matrix']}): {r['gflops']:.1f} GFLOP/s through "
          f"mxnet, {r['numpy_gflops']:.1f} GFLOP/s through numpy ({r['seconds']:.1f} s each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
