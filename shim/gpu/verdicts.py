"""What the preflight concludes: a Verdict per GPU, gathered in a Report, and the error that
stops a run."""
from dataclasses import dataclass, field
from typing import List, Optional

from .driver import GPU, DriverFacts
from .fatbin import FatbinInfo


OK, CPU_ONLY, NO_DRIVER, NO_SUCH_GPU, ARCH_MISSING, NO_MXNET = (
    "ok", "cpu-only", "no-driver", "no-such-gpu", "arch-missing", "mxnet-unusable")
OLD_DRIVER, MIG, SMOKE_FAILED, FOREIGN_LIBS = (
    "driver-too-old", "mig", "smoke-failed", "foreign-libraries")
MIG_FIX = ("this benchmark runs on whole GPUs, not MIG slices (MXNet 1.9.1 predates MIG, and a "
           "CUDA 11 process sees one slice at most)")


class PreflightError(RuntimeError):
    """A requested GPU cannot be used; str() is a one-line reason."""


@dataclass
class Verdict:
    index: int
    code: str                  # one of the constants above
    message: str               # one line: the problem and what would work
    gpu: Optional[GPU] = None
    arch: Optional[str] = None  # the arch it would run, when ok

    @property
    def ok(self) -> bool:
        return self.code == OK


@dataclass
class Report:
    requested: List[int]
    features: dict
    lib_path: Optional[str]
    fatbin: Optional[FatbinInfo]   # None when no library could be read
    lib_reason: Optional[str]
    gpus: List[GPU]
    driver_reason: Optional[str]
    verdicts: List[Verdict]        # one per driver GPU, plus missing requested ones
    driver: DriverFacts = field(default_factory=lambda: DriverFacts(None, {}))
    mig_visible: List[str] = field(default_factory=list)  # MIG-... in CUDA_VISIBLE_DEVICES

    @property
    def build_state(self) -> str:
        if self.features.get("CUDA") is False:
            return "cpu-only"
        if self.features.get("CUDA") is None and self.fatbin is not None and not self.fatbin.sass \
                and not self.fatbin.ptx:
            return "cpu-only"  # mxnet not importable, but its library has no device code
        if self.features.get("CUDA"):
            return "cuda"
        return self.features.get("reason") or "mxnet not importable"

    def verdict(self, index: int) -> Verdict:
        return next(v for v in self.verdicts if v.index == index)

    @property
    def problems(self) -> List[Verdict]:
        return [self.verdict(i) for i in self.requested if not self.verdict(i).ok]

    @property
    def ok(self) -> bool:
        return not self.problems


def span(indices: List[int]) -> str:
    if not indices:
        return "no GPUs"
    if indices == list(range(indices[0], indices[-1] + 1)) and len(indices) > 1:
        return f"gpu:{indices[0]}-{indices[-1]}"
    return ", ".join(f"gpu:{i}" for i in indices)
