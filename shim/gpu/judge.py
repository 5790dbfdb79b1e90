"""The preflight itself: gather the library's, the driver's and MXNet's facts, and judge every
GPU, most basic problem first; `check` raises on the first problem, after the smoke check."""
import os
import struct
from typing import List, Optional

from .archs import arch_key, runnable, runs_on
from .build import build_features
from .driver import GPU, MIN_DRIVER, DriverFacts, driver_facts, driver_gpus, mig_tokens, \
    version_tuple
from .fatbin import fatbin_info
from .libraries import libmxnet_path
from .smoke import smoke_check
from .verdicts import ARCH_MISSING, CPU_ONLY, MIG, MIG_FIX, NO_DRIVER, NO_MXNET, NO_SUCH_GPU, \
    OK, OLD_DRIVER, PreflightError, Report, Verdict, span


def _judge(index: int, gpu: Optional[GPU], report: Report) -> Verdict:
    """The verdict for one GPU index, most basic problem first."""
    if report.build_state == "cpu-only":
        return Verdict(index, CPU_ONLY,
                       "this mxnet build has no CUDA; run make setup-gpu or use --ctx cpu", gpu)
    if report.mig_visible:
        return Verdict(index, MIG, f"CUDA_VISIBLE_DEVICES names MIG slice "
                       f"{report.mig_visible[0]}: {MIG_FIX}; set CUDA_VISIBLE_DEVICES to whole "
                       f"GPUs (GPU-... UUIDs or indices from nvidia-smi -L) or unset it", gpu)
    if report.driver_reason:
        return Verdict(index, NO_DRIVER, f"gpu:{index} requested but the NVIDIA driver reports no "
                       f"GPU: {report.driver_reason}; run on a machine with an NVIDIA GPU and "
                       f"driver, or use --ctx cpu", gpu)
    if gpu is None:
        where = ""
        if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
            where = f" (CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']})"
        return Verdict(index, NO_SUCH_GPU, f"gpu:{index} requested, this machine has "
                       f"{span([g.index for g in report.gpus])}{where}")
    arch = None
    fb = report.fatbin
    if fb is not None and (fb.sass or fb.ptx) and gpu.compute_capability != "?":
        # Every container (every .cu file's kernels) needs an image for this GPU.
        picks = [runnable(gpu.compute_capability, s) for s in fb.arch_sets] or [None]
        if None in picks:
            lib = os.path.basename(report.lib_path or "libmxnet.so")
            ptx = ("PTX for " + ",".join(fb.ptx) + " (too new to JIT for it)") if fb.ptx else "no PTX"
            partial = "" if all(p is None for p in picks) else " for some of its kernels"
            return Verdict(index, ARCH_MISSING,
                           f"gpu:{index} is {gpu.name}, compute capability {gpu.compute_capability}; "
                           f"this {lib} has SASS for {','.join(fb.sass) or 'nothing'} and {ptx}, so "
                           f"no kernel{partial} can run on it (SASS only runs on its own major "
                           f"version); this build runs on compute capability "
                           f"{runs_on(fb.sass, fb.ptx)}: use such a GPU (e.g. A100, A10, L4, "
                           f"RTX 30xx/40xx), a build with sm_{gpu.compute_capability.replace('.', '')} "
                           f"SASS or PTX, or --ctx cpu", gpu)
        arch = max(picks, key=lambda a: (a.startswith("sm_"), arch_key(a)))
    if report.driver.mig.get(gpu.driver_index):
        return Verdict(index, MIG, f"gpu:{index} ({gpu.name}) is in MIG mode: {MIG_FIX}; "
                       f"disable MIG on it (sudo nvidia-smi -i {gpu.driver_index} -mig 0) or use "
                       f"another GPU", gpu, arch)
    version = report.driver.version
    if version and version_tuple(version) < MIN_DRIVER:
        needed = ".".join(map(str, MIN_DRIVER[:2])) + ".%02d" % MIN_DRIVER[2]
        return Verdict(index, OLD_DRIVER, f"NVIDIA driver {version} found, {needed} or newer "
                       f"needed: MXNet compiles its fused GPU kernels with pip's NVRTC 11.8, whose "
                       f"PTX (ISA 7.8) older drivers refuse (CUDA_ERROR_UNSUPPORTED_PTX_VERSION); "
                       f"update the NVIDIA driver to R520 or newer", gpu, arch)
    if report.features.get("CUDA") is None:
        return Verdict(index, NO_MXNET, f"{report.build_state}; run make setup-gpu", gpu, arch)
    note = "ok" if arch is None or arch.startswith("sm_") else \
        f"ok via PTX JIT of {arch} (first run compiles kernels)"
    return Verdict(index, OK, note, gpu, arch)


def parse_indices(requested) -> List[int]:
    if requested is None:
        return []
    if isinstance(requested, str):
        requested = [t for t in requested.replace("gpu:", "").split(",") if t.strip()]
    return [int(i) for i in requested]


def preflight(requested_gpu_indices=(), *, lib_path: Optional[str] = None,
              features: Optional[dict] = None, nvidia_smi: str = "nvidia-smi",
              smi_text: Optional[str] = None, env: Optional[dict] = None,
              driver_text: Optional[str] = None) -> Report:
    """Collect build, library and driver facts and judge every GPU.

    Everything can be injected for tests: `features` (as build_features()
    returns), `lib_path` (any ELF or fatbin file), `smi_text`/`nvidia_smi`,
    `driver_text` (nvidia-smi's answer to the driver query; with `smi_text` and
    no `driver_text` the driver's version and MIG mode stay unknown).
    """
    requested = parse_indices(requested_gpu_indices)
    features = build_features() if features is None else features
    lib_path = lib_path or libmxnet_path()
    fatbin, lib_reason = None, None
    if lib_path is None:
        lib_reason = "libmxnet.so not found"
    else:
        try:
            fatbin = fatbin_info(lib_path)
        except (OSError, ValueError, struct.error) as exc:
            lib_reason = f"cannot read {lib_path}: {exc}"
    gpus, driver_reason = driver_gpus(nvidia_smi, smi_text, env)
    if driver_text is None and smi_text is not None:
        driver_text = ""
    facts = driver_facts(nvidia_smi, driver_text) if not driver_reason else DriverFacts(None, {})
    report = Report(requested, features, lib_path, fatbin, lib_reason, gpus, driver_reason, [],
                    facts, mig_tokens(os.environ if env is None else env))
    by_index = {g.index: g for g in gpus}
    for index in sorted(set(by_index) | set(requested)):
        report.verdicts.append(_judge(index, by_index.get(index), report))
    return report


def check(requested_gpu_indices, smoke_env: Optional[dict] = None,
          smoke: Optional[List[str]] = None, **kwargs) -> Report:
    """preflight(), raising PreflightError with the first problem's one-line reason.

    With smoke_env (the environment the cells will run in), the smoke check runs too, once
    every requested GPU passed the static checks; `smoke` replaces its child's command (tests).
    """
    report = preflight(requested_gpu_indices, **kwargs)
    if report.problems:
        raise PreflightError(report.problems[0].message)
    if smoke_env is not None and report.requested:
        problem = smoke_check(report, smoke_env, smoke)
        if problem:
            raise PreflightError(problem.message)
    return report
