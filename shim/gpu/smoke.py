"""The smoke check: MXNet's own kernels on each requested GPU, in a child process
(`python -m shim.gpu --smoke 0,1`) run in the cells' environment, and what its failures mean."""
import json
import os
import subprocess
import sys
from typing import List, Optional

from .archs import runs_on
from .libraries import add_cuda_library_paths, find_cuda_libs, foreign_cuda_libraries, \
    foreign_library_message, libmxnet_path
from .verdicts import ARCH_MISSING, FOREIGN_LIBS, OLD_DRIVER, SMOKE_FAILED, Report, Verdict, span

SMOKE_TIMEOUT_S = 300   # cuDNN's and NVRTC's first use take seconds; a hang is a failure
SMOKE_STEPS = ("Conv2D", "fused LSTM", "fused pointwise")


def smoke_on(mx, ctx) -> None:
    """Forward and backward through a tiny Conv2D (cuDNN on a GPU), MXNet's fused LSTM (cuDNN's
    RNN) and a chain of pointwise operators that MXNet fuses on a GPU (compiled by NVRTC),
    hybridized like the benchmark's Gluon models; read back to the host, so that an error of
    the asynchronous engine surfaces here.  Raises RuntimeError('<step>: <error>')."""
    import numpy as np
    from mxnet import autograd, gluon
    from mxnet.gluon import nn, rnn

    class Pointwise(gluon.HybridBlock):
        def hybrid_forward(self, F, x):
            return F.sigmoid(x * 2 + 1) * F.tanh(x) - x / 3

    values = np.linspace(-2, 2, 24, dtype=np.float32)
    blocks = [("Conv2D", nn.Conv2D(4, 3, padding=1), values.reshape(1, 1, 4, 6)),
              ("fused LSTM", rnn.LSTM(8, layout="TNC"), values.reshape(4, 2, 3)),
              ("fused pointwise", Pointwise(), values.reshape(4, 6))]
    for step, block, x in blocks:
        try:
            block.initialize(ctx=ctx)
            block.hybridize(static_alloc=True, static_shape=True)
            data = mx.nd.array(x, ctx=ctx)
            data.attach_grad()
            with autograd.record():
                out = block(data)
            out.backward()
            result, grad = out.asnumpy(), data.grad.asnumpy()
        except Exception as error:  # MXNetError and friends: one line for the parent
            raise RuntimeError(f"{step}: {_error_line(error)}") from None
        if not (np.isfinite(result).all() and np.isfinite(grad).all()):
            raise RuntimeError(f"{step}: non-finite results")
        if step == "fused pointwise":
            expected = 1 / (1 + np.exp(-(x * 2 + 1))) * np.tanh(x) - x / 3
            if not np.allclose(result, expected, rtol=1e-4, atol=1e-5):
                raise RuntimeError(f"{step}: wrong results (max error "
                                   f"{np.abs(result - expected).max():.3g})")


_TELLING = ("no kernel image", "NO_BINARY_FOR_GPU", "invalid device function", "PTX",
            "unsupported toolchain", "undefined symbol", "cannot open shared object", "CUDA",
            "cuDNN", "CUDNN", "NVRTC", "rror")


def _error_line(error) -> str:
    """The one line of an (often multi-line, C++-traceback) MXNet error that says what failed."""
    lines = [l.strip() for l in str(error).splitlines() if l.strip()]
    for word in _TELLING:
        hits = [l for l in lines if word in l and not l.startswith(("[bt]", "File ", "Stack"))]
        if hits:
            return hits[-1][:300]
    return (lines[-1] if lines else type(error).__name__)[:300]


def smoke_main(indices: List[int]) -> int:
    """The child: one JSON line per GPU, then a line about foreign libraries; exit 1 on failure."""
    try:  # as shim.import_mxnet does it (that function imports this package, not the reverse)
        add_cuda_library_paths()
        import mxnet as mx  # noqa: lazy on purpose, the parent process never imports mxnet
    except Exception as error:
        print(json.dumps({"index": None, "error": f"import mxnet: {_error_line(error)}",
                          "foreign": _foreign_line()}))
        return 1
    failed = False
    for index in indices:
        try:
            smoke_on(mx, mx.gpu(index))
            print(json.dumps({"index": index, "error": None}), flush=True)
        except RuntimeError as error:
            failed = True
            print(json.dumps({"index": index, "error": str(error)}), flush=True)
            break
    foreign = _foreign_line()
    print(json.dumps({"index": None, "error": None, "foreign": foreign}))
    return 1 if failed or foreign else 0


def _foreign_line() -> Optional[str]:
    try:
        lib = libmxnet_path()
        foreign = foreign_cuda_libraries(pip_libs=find_cuda_libs(),  # what shim preloaded
                                         mxnet_dir=lib and os.path.dirname(lib))
    except OSError:
        return None
    return foreign_library_message(foreign) if foreign else None


# the checkout, where `python -m shim.gpu` finds this package
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def smoke_command(indices: List[int]) -> List[str]:
    return [sys.executable, "-m", "shim.gpu", "--smoke", ",".join(map(str, indices))]


def smoke_check(report: Report, env: Optional[dict] = None, command: Optional[List[str]] = None,
                timeout_s: float = SMOKE_TIMEOUT_S) -> Optional[Verdict]:
    """Run the smoke check for report.requested in a child with `env` (the cells' environment);
    None when every GPU passed, else the first problem's Verdict.  `command` replaces the child
    (tests); it must print smoke_main()'s JSON lines."""
    env = dict(os.environ if env is None else env)
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")   # the numbering nvidia-smi uses
    command = command or smoke_command(report.requested)
    first = report.requested[0] if report.requested else 0
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=_ROOT,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return Verdict(first, SMOKE_FAILED, f"the GPU smoke check did not finish in {timeout_s:g} "
                       f"s on {span(report.requested)}; is a GPU hung or busy (nvidia-smi)?")
    lines = []
    for text in done.stdout.splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    foreign = next((l.get("foreign") for l in lines if l.get("foreign")), None)
    if foreign:
        return Verdict(first, FOREIGN_LIBS, foreign)
    failure = next((l for l in lines if l.get("error")), None)
    if failure is None:
        if done.returncode == 0 and lines:
            return None
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Verdict(first, SMOKE_FAILED, f"the GPU smoke check's process exited "
                       f"{done.returncode}: {said}")
    index = failure["index"] if failure["index"] is not None else first
    return smoke_verdict(index, failure["error"], report)


def smoke_verdict(index: int, error: str, report: Report) -> Verdict:
    """What a smoke-check failure means, in the preflight's words."""
    gpu = next((g for g in report.gpus if g.index == index), None)
    what = f"gpu:{index}" + (f" is {gpu.name}, compute capability {gpu.compute_capability}"
                             if gpu else "")
    fb = report.fatbin
    if any(w in error for w in ("no kernel image", "NO_BINARY_FOR_GPU", "invalid device function")):
        builds = f"compute capability {runs_on(fb.sass, fb.ptx)}" if fb and (fb.sass or fb.ptx) \
            else "the GPUs its wheel was built for"
        return Verdict(index, ARCH_MISSING, f"{what}; the driver refused MXNet's kernels in the "
                       f"smoke check ({error}); this build runs on {builds}: use such a GPU "
                       f"(e.g. A100, A10, L4, RTX 30xx/40xx) or --ctx cpu", gpu)
    if "PTX" in error or "unsupported toolchain" in error:
        version = report.driver.version or "this"
        return Verdict(index, OLD_DRIVER, f"NVIDIA driver {version} refused the PTX of MXNet's "
                       f"fused kernels in the smoke check ({error}); update the NVIDIA driver to "
                       f"R520 or newer (pip's NVRTC 11.8 emits PTX ISA 7.8)", gpu)
    return Verdict(index, SMOKE_FAILED, f"the GPU smoke check failed on gpu:{index}: {error}", gpu)
