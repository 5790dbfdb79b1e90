"""--dtype bfloat16: MXNet's AMP really converts each side's graph, and both still train.

amp.init changes the whole process, so every check runs in a fresh interpreter.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from shim import precision

from tests.helpers import needs_bfloat16, python_json, read_csv

ROOT = Path(__file__).resolve().parents[1]


# Count the graph's casts to bfloat16 and its Convolution, FullyConnected and dot nodes
# (tojson drops AMP's casts unless told not to).
GRAPH_CENSUS = """
import collections, json

def census(symbol):
    nodes = json.loads(symbol.tojson(remove_amp_cast=False))["nodes"]
    ops = collections.Counter(n["op"] for n in nodes)
    to_bf16 = sum(1 for n in nodes if n["op"] in ("amp_cast", "amp_multicast")
                  and "bfloat16" in json.dumps(n.get("attrs", {})))
    return {"to_bf16": to_bf16, **{op: ops[op] for op in ("Convolution", "FullyConnected", "dot")}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", pytest.param("bfloat16", marks=needs_bfloat16)])
def test_gluon_lenet_graph_runs_conv_and_dense_in_bfloat16_only_when_asked(dtype):
    found = python_json(GRAPH_CENSUS + f"""
from shim import precision
precision.use({dtype!r})
import mxnet as mx
from gluon_models import lenet
net = lenet.build()
net.initialize(mx.init.Xavier())
net.hybridize()
out = net(mx.nd.ones((2, 1, 28, 28)))
out.wait_to_read()
print(json.dumps({{**census(net._cached_graph[1]), "out": str(out.dtype)}}))
""", timeout=300)
    assert found["Convolution"] == 2 and found["FullyConnected"] == 2
    assert ("bfloat16" in found["out"]) == (dtype == "bfloat16")   # the logits' dtype
    if dtype == "bfloat16":
        assert found["to_bf16"] >= 4, found   # every Convolution and FullyConnected input
    else:
        assert found["to_bf16"] == 0, found


@pytest.mark.slow
def test_keras_lenet_graph_runs_conv_in_bfloat16_and_dot_in_float32():
    # keras is imported first, as keras_models.train does before it calls precision.use
    found = python_json(GRAPH_CENSUS + """
from shim.keras_mxnet import keras
from shim import precision
precision.use("bfloat16")
from keras_models import lenet
import scenarios
model = lenet.build(scenarios.LENET)
print(json.dumps(census(model.outputs[0].symbol)))
""", timeout=300)
    assert found["Convolution"] == 2 and found["dot"] == 2, found
    assert found["to_bf16"] >= 2, found    # the convolutions' inputs


@pytest.mark.slow
@needs_bfloat16
def test_bfloat16_cells_train_and_are_recorded_as_bfloat16(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "bench.py", "--scenario", "lenet", "--impl", "keras,gluon",
         "--data", "synthetic", "--max-samples", "256", "--epochs", "2", "--batch-sizes", "64",
         "--dtype", "bfloat16", "--quiet", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_csv(out / "runs.csv")
    assert sorted(r["impl"] for r in rows) == ["gluon", "keras"]
    for row in rows:
        assert row["status"] == "ok", row["reason"]
        assert row["dtype"] == "bfloat16"
        assert 0 < float(row["val_loss"]) < 10 and 0 <= float(row["val_accuracy"]) <= 1
    assert "bfloat16" in (out / "summary.md").read_text()


def test_bfloat16_kernels_are_read_from_the_cpus_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n")
    assert precision.bfloat16_kernels(str(cpuinfo)) is False   # the AMD EPYC VM's: AVX2 only
    cpuinfo.write_text("flags\t\t: avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16\n")
    assert precision.bfloat16_kernels(str(cpuinfo)) is True
    assert precision.bfloat16_kernels(str(tmp_path / "absent")) is None


def test_bfloat16_is_refused_in_one_line_where_the_cpu_has_no_avx512(monkeypatch):
    from sweep import args as sweep_args

    monkeypatch.setattr(precision, "bfloat16_kernels", lambda: False)
    parsed = sweep_args.parser().parse_args(["--dtype", "bfloat16"])
    with pytest.raises(sweep_args.UsageError, match="needs a CPU with AVX-512"):
        sweep_args.validate(parsed)
    monkeypatch.setattr(precision, "bfloat16_kernels", lambda: True)
    sweep_args.validate(sweep_args.parser().parse_args(["--dtype", "bfloat16"]))
