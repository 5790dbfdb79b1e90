"""MXNet's own build flags (CUDA, cuDNN, NCCL), which only importing mxnet can tell."""
from .libraries import add_cuda_library_paths


def build_features() -> dict:
    """{'CUDA': bool, 'CUDNN': bool, 'NCCL': bool, 'version': str, 'reason': None}.

    Imports mxnet (after preloading the pip CUDA libraries).  If that fails the
    flags are None and 'reason' says why, e.g. 'mxnet not importable: ...'.
    """
    result = {"CUDA": None, "CUDNN": None, "NCCL": None, "version": None, "reason": None}
    try:
        add_cuda_library_paths()
        import mxnet  # noqa: lazy on purpose, slow and maybe absent
        features = mxnet.runtime.Features()
    except Exception as exc:  # ImportError, OSError from a missing libcudart, ...
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        result["reason"] = f"mxnet not importable: {msg}"
        return result
    for name in ("CUDA", "CUDNN", "NCCL"):
        result[name] = bool(features.is_enabled(name))
    result["version"] = getattr(mxnet, "__version__", "?")
    return result

