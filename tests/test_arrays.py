"""shim/arrays.py: a large host array reaches MXNet without leaving an OpenMP team on the
Python thread, and the Gluon and keras-graph loops convert their data that way."""
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import benchdata
from cell import contract
import scenarios
from shim.contexts import parse
import mxnet as mx

from gluon_models import train as gluon_train
from keras_models import graph as keras_graph

ROOT = Path(__file__).resolve().parents[1]
# MXNet copies this many elements or more with an OpenMP loop on the calling thread.
PARALLEL_COPY_ELEMENTS = 200_000


@pytest.mark.slow
def test_a_large_copy_leaves_no_openmp_team_on_the_calling_thread():
    # In a fresh process: count the threads once MXNet runs, after a copy through the shim, and
    # after the same copy by plain mx.nd.array (the control: it opens the team, 1 more thread).
    script = textwrap.dedent(f"""
        import os, sys, time
        import numpy as np
        import mxnet as mx
        from shim import arrays

        def threads(expected=None):  # a thread that ends exits a moment after its join
            mx.nd.waitall()
            for _ in range(30):
                count = len(os.listdir("/proc/self/task"))
                if expected is None or count == expected:
                    break
                time.sleep(0.1)
            return count

        mx.nd.ones(8).wait_to_read()
        big = np.ones({PARALLEL_COPY_ELEMENTS * 2}, dtype="float32")
        before = threads()
        shimmed = arrays.ndarray(big, dtype="float32")
        after_shim = threads(before)
        plain = mx.nd.array(big, dtype="float32")
        after_plain = threads(before)
        assert (shimmed.asnumpy() == big).all() and shimmed.dtype == np.float32
        print(before, after_shim, after_plain)
    """)
    env = {k: v for k, v in os.environ.items() if k != "MXNET_CPU_PARALLEL_SIZE"}
    env["OMP_NUM_THREADS"] = "2"  # a team of two: the calling thread and one more
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after_shim, after_plain = map(int, done.stdout.split()[-3:])
    assert after_shim == before
    assert after_plain == before + 1


def test_ndarray_keeps_the_dtype_and_lands_on_the_cpu():
    from shim import arrays

    converted = arrays.ndarray([[1, 2], [3, 4]], dtype="int64")
    assert converted.dtype.__name__ == "int64" and converted.context == mx.cpu()
    assert converted.asnumpy().tolist() == [[1, 2], [3, 4]]
    assert arrays.ndarray([1.5]).dtype.__name__ == "float32"  # mx.nd.array's own default


@pytest.mark.parametrize("implementation", [gluon_train, keras_graph], ids=["gluon", "keras-graph"])
def test_training_converts_no_large_array_on_the_python_thread(implementation, monkeypatch):
    calls = []
    original = mx.nd.array

    def spy(source, *args, **kwargs):
        result = original(source, *args, **kwargs)
        by_keras = "/keras/" in sys._getframe(1).f_code.co_filename  # Keras's own, measured as is
        if not by_keras:
            calls.append((threading.current_thread() is threading.main_thread(), result.size))
        return result

    monkeypatch.setattr(mx.nd, "array", spy)
    scenario = scenarios.get("lenet")
    # 320 MNIST-shaped samples: 250,880 elements, above MXNet's parallel-copy threshold
    data = benchdata.load("lenet", data="synthetic", max_samples=320, seed=0)
    implementation.train(scenario, data, parse("cpu"), 64, 1, progress=False,
                         order=lambda epoch: contract.epoch_order(len(data.x_train), 0, epoch))
    large = [(on_main, size) for on_main, size in calls if size >= PARALLEL_COPY_ELEMENTS]
    assert large, "the training set was not converted through mx.nd.array at all"
    assert not [size for on_main, size in large if on_main]
