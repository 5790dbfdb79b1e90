"""CUDA's binary compatibility rules: which compiled architecture a GPU can run.

  * SASS for sm_XY runs on compute capability X.Z with the same major X and Z >= Y.
  * PTX for compute_XY can be JIT-compiled by the driver for any cc >= X.Y.
"""
from typing import List, Optional


def arch_key(name: str) -> int:
    """'sm_86' -> 86, 'compute_52' -> 52."""
    return int(name.rsplit("_", 1)[1])


# Highest minor version that exists for each major, to print precise ranges.
_MAX_MINOR = {3: 7, 5: 3, 6: 2, 7: 5, 8: 9, 9: 0, 10: 3, 11: 0, 12: 1}


def _cc(text: str):
    major, minor = text.split(".")
    return int(major), int(minor)


def runnable(cc: str, archs: List[str]) -> Optional[str]:
    """The arch in `archs` that a device of compute capability `cc` can run, or None.

    Prefers SASS (no JIT); PTX only as a fallback.
    """
    major, minor = _cc(cc)
    sass = [a for a in archs if a.startswith("sm_") and arch_key(a) // 10 == major
            and arch_key(a) % 10 <= minor]
    if sass:
        return max(sass, key=arch_key)
    ptx = [a for a in archs if a.startswith("compute_") and arch_key(a) <= major * 10 + minor]
    return max(ptx, key=arch_key) if ptx else None


def runs_on(sass: List[str], ptx: List[str]) -> str:
    """Human text of the compute capabilities a build runs on, e.g. '5.0-8.9'."""
    ranges = []  # [(major, minor) low, (major, minor) high]
    for major in sorted({arch_key(a) // 10 for a in sass}):
        low = min(arch_key(a) % 10 for a in sass if arch_key(a) // 10 == major)
        high = (major, _MAX_MINOR.get(major, 9))
        if ranges and low == 0 and ranges[-1][1] == (major - 1, _MAX_MINOR.get(major - 1, 9)):
            ranges[-1][1] = high  # contiguous with the previous major: merge
        else:
            ranges.append([(major, low), high])
    parts = ["%d.%d-%d.%d" % (lo + hi) if lo != hi else "%d.%d" % lo for lo, hi in ranges]
    if ptx:
        parts.append("any >= %d.%d via PTX JIT" % divmod(min(map(arch_key, ptx)), 10))
    return ", ".join(parts) if parts else "none"

