"""GPU preflight for the MXNet GPU build: can the requested GPUs run this libmxnet.so?

Everything here works WITHOUT importing mxnet (only build_features() imports it,
lazily), and needs only the standard library, plus pyelftools to read an ELF file
(tabulate is used when present), so `python -m shim.gpu` also runs on a machine
where mxnet cannot be installed.

Why a preflight: a GPU build of MXNet imports fine on a GPU it has no kernels for
and only fails when it launches its first kernel: "no kernel image is available for
execution on the device".  The published 1.9.1 wheels carry SASS (machine code)
for a fixed list of architectures and no PTX, so which GPUs they run on can be
read from the library itself, before a benchmark wastes time.

Beyond the kernels: the driver must be new enough for the PTX of pip's NVRTC 11.8
(MIN_DRIVER), GPUs are used whole (no MIG), and a smoke check runs MXNet's own
kernels (Conv2D, fused LSTM, fused pointwise) on each requested GPU in a child
process, then checks that no CUDA library came from outside pip's packages.

    python -m shim.gpu                    # report only, exit 0
    python -m shim.gpu --gpus 0,1         # + smoke check; exit 2 with a one-line reason if unusable
    python -m shim.gpu --gpus 0 --lib FILE  # read archs from FILE (.so or raw .fatbin)
    (or MXNET_LIBRARY_PATH=/abs/FILE, which `bench.py --check` also sees)

A module per concern, each importing only the ones before it in this list:
  libraries  pip's CUDA 11 libraries (loaded before mxnet, foreign ones found) and libmxnet.so
  archs      CUDA's binary compatibility rules
  elf        a section of an ELF file (pyelftools)
  fatbin     the architectures in a library's fatbin containers
  driver     nvidia-smi: the GPUs, the driver's version, MIG
  build      MXNet's build flags (imports mxnet)
  verdicts   Verdict, Report, PreflightError and the verdict codes
  smoke      the smoke check's child and what its failures mean
  judge      preflight() and check()
  cli        the report's tables and main()

Modules use only relative imports among themselves, so the package also runs without
shim/__init__.py (`PYTHONPATH=shim python -m gpu`, lab/hopper_check.sh's fallback).
"""
import importlib

# The package's names and the module each lives in. A module is imported only when one of its
# names is first used, so that `shim.import_mxnet` (which needs only `libraries`) and the cells
# that call it load nothing else. Looked up on every use, not cached: a test that patches a
# module's function (monkeypatch judge.check) is seen through `shim.gpu.check` too.
_MODULES = {
    "libraries": ("CUDA11_LIBS", "find_cuda_libs", "add_cuda_library_paths",
                  "foreign_cuda_libraries", "foreign_library_message", "libmxnet_path"),
    "archs": ("runnable", "runs_on"),
    "fatbin": ("FATBIN_MAGIC", "FATBIN_KIND_PTX", "FATBIN_KIND_SASS", "FatbinInfo",
               "fatbin_containers", "fatbin_info", "fatbin_archs"),
    "driver": ("GPU", "DriverFacts", "MIN_DRIVER", "driver_gpus", "driver_facts", "mig_tokens"),
    "build": ("build_features",),
    "verdicts": ("OK", "CPU_ONLY", "NO_DRIVER", "NO_SUCH_GPU", "ARCH_MISSING", "NO_MXNET",
                 "OLD_DRIVER", "MIG", "SMOKE_FAILED", "FOREIGN_LIBS", "PreflightError", "Verdict",
                 "Report"),
    "smoke": ("SMOKE_STEPS", "SMOKE_TIMEOUT_S", "smoke_on", "smoke_check", "smoke_verdict"),
    "judge": ("preflight", "check"),
    "cli": ("format_report", "main"),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
