"""GPU preflight for the MXNet GPU build: can the requested GPUs run this libmxnet.so?

Everything here works WITHOUT importing mxnet (only build_features() imports it,
lazily), and only needs the standard library (tabulate is used when present), so
`python -m shim.gpu` also runs on a machine where mxnet cannot be installed.

Why a preflight: a GPU build of MXNet imports fine on a GPU it has no kernels for
and only fails when it launches its first kernel: "no kernel image is available for
execution on the device".  The published 1.9.1 wheels carry SASS (machine code)
for a fixed list of architectures and no PTX, so which GPUs they run on can be
read from the library itself, before a benchmark wastes time.

Compatibility rules (CUDA programming guide, "binary compatibility"):
  * SASS for sm_XY runs on compute capability X.Z with the same major X and Z >= Y.
  * PTX for compute_XY can be JIT-compiled by the driver for any cc >= X.Y.

Beyond the kernels: the driver must be new enough for the PTX of pip's NVRTC 11.8
(MIN_DRIVER), GPUs are used whole (no MIG), and a smoke check runs MXNet's own
kernels (Conv2D, fused LSTM, fused pointwise) on each requested GPU in a child
process, then checks that no CUDA library came from outside pip's packages.

    python -m shim.gpu                    # report only, exit 0
    python -m shim.gpu --gpus 0,1         # + smoke check; exit 2 with a one-line reason if unusable
    python -m shim.gpu --gpus 0 --lib FILE  # read archs from FILE (.so or raw .fatbin)
    (or MXNET_LIBRARY_PATH=/abs/FILE, which `bench.py --check` also sees)
"""
import argparse
import ctypes
import importlib.util
import os
import re
import struct
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from typing import List, NamedTuple, Optional

__all__ = [
    "GPU", "FatbinInfo", "Verdict", "Report", "PreflightError",
    "add_cuda_library_paths", "foreign_cuda_libraries", "libmxnet_path", "fatbin_archs", "fatbin_info",
    "fatbin_containers", "driver_gpus", "build_features", "runnable",
    "runs_on", "preflight", "check", "format_report", "main", "driver_facts", "smoke_check",
    "smoke_on",
]

# --------------------------------------------------------------------------
# CUDA 11 libraries from the pip `nvidia-*-cu11` wheels
# --------------------------------------------------------------------------

# The sonames libmxnet.so (mxnet-cu112 1.9.1) lists as NEEDED, with the pip
# package folder (site-packages/nvidia/<folder>/lib) that ships each, in
# dependency order: every library only needs ones loaded before it.
#
# Plus the libraries those dlopen() by soname at run time: libnvrtc loads
# libnvrtc-builtins.so.11.8 when it compiles MXNet's fused kernels, and cuDNN 8's
# libcudnn.so.8 loads its six sub-libraries on first use.  Each finds them through
# its RUNPATH ($ORIGIN, readelf -d), but the dynamic linker searches RUNPATH only
# AFTER LD_LIBRARY_PATH: on a host whose LD_LIBRARY_PATH holds a system CUDA or
# cuDNN, they would come from there and mix minor versions ("undefined symbol ...
# libcudnn_ops_infer.so.8").  Loaded here by absolute path first, they are already
# in the process under their soname, so those dlopen() calls get ours.  The
# sub-libraries' order is cuDNN 8's documented dependency order (ops_train needs
# ops_infer; cnn_train needs ops_infer, ops_train and cnn_infer; likewise adv_*),
# so that no sub-library's own NEEDED entry is looked up on LD_LIBRARY_PATH either;
# cnn_* and adv_* need cuBLAS, loaded before them.
CUDA11_LIBS = [
    ("cuda_runtime", "libcudart.so.11.0"),
    ("cuda_nvrtc", "libnvrtc.so.11.2"),  # 11.3-11.8 kept the 11.2 soname
    ("cuda_nvrtc", "libnvrtc-builtins.so.11.8"),  # dlopen()ed by libnvrtc; 11.8 = the pinned wheel
    ("nvtx", "libnvToolsExt.so.1"),
    ("cublas", "libcublasLt.so.11"),
    ("cublas", "libcublas.so.11"),  # needs cublasLt
    ("cufft", "libcufft.so.10"),
    ("curand", "libcurand.so.10"),
    ("cusparse", "libcusparse.so.11"),
    ("cusolver", "libcusolver.so.11"),  # needs cublas, cublasLt (cusparse lazily)
    ("nccl", "libnccl.so.2"),
    ("cudnn", "libcudnn_ops_infer.so.8"),
    ("cudnn", "libcudnn_ops_train.so.8"),
    ("cudnn", "libcudnn_cnn_infer.so.8"),
    ("cudnn", "libcudnn_cnn_train.so.8"),
    ("cudnn", "libcudnn_adv_infer.so.8"),
    ("cudnn", "libcudnn_adv_train.so.8"),
    ("cudnn", "libcudnn.so.8"),  # dlopen()s the six above
]

# Basenames of the CUDA libraries pip's nvidia-*-cu11 packages ship (not libcuda.so.1,
# which is the driver's): a mapped file of these from elsewhere is foreign.
_PIP_CUDA_PREFIXES = ("libcudart.", "libnvrtc.", "libnvrtc-builtins.", "libnvToolsExt.",
                      "libcublas.", "libcublasLt.", "libcufft.", "libcurand.", "libcusparse.",
                      "libcusolver.", "libnccl.", "libcudnn.", "libcudnn_")

_preloaded: List[str] = []


def _site_dirs() -> List[str]:
    """Folders that may hold a top-level `nvidia/` package (sys.path order)."""
    dirs = [p for p in sys.path if p and os.path.isdir(p)]
    return list(dict.fromkeys(os.path.abspath(p) for p in dirs))


def find_cuda_libs(roots: Optional[List[str]] = None) -> List[str]:
    """Paths of the CUDA11_LIBS found under <root>/nvidia/*/lib, in load order.

    The first root holding a library wins, like the import system would.
    """
    found = []
    for folder, soname in CUDA11_LIBS:
        for root in roots if roots is not None else _site_dirs():
            path = os.path.join(root, "nvidia", folder, "lib", soname)
            if os.path.isfile(path):
                found.append(path)
                break
    return found


def add_cuda_library_paths(roots: Optional[List[str]] = None) -> List[str]:
    """Make the pip nvidia-*-cu11 libraries loadable before `import mxnet`.

    libmxnet.so's RPATH is only its own folder and LD_LIBRARY_PATH cannot be
    changed for a running process, so we dlopen each library by full path with
    RTLD_GLOBAL.  When libmxnet.so is loaded later, the dynamic linker matches
    its NEEDED entries (libcudart.so.11.0, ...) against the SONAMEs of objects
    already loaded and uses those.  No nvidia packages installed -> no-op.
    Returns the paths loaded (by this call or an earlier one).
    """
    for path in find_cuda_libs(roots):
        if path in _preloaded:
            continue
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            _preloaded.append(path)
        except OSError as exc:  # leave the real error to `import mxnet`
            warnings.warn(f"could not preload {path}: {exc}")
    return list(_preloaded)


def foreign_cuda_libraries(maps_text: Optional[str] = None,
                           pip_libs: Optional[List[str]] = None,
                           mxnet_dir: Optional[str] = None) -> List[str]:
    """CUDA libraries mapped into this process that are not pip's, where pip's are in use.

    maps_text: /proc/self/maps (read when None); pip_libs: the libraries preloaded from the
    pip packages (add_cuda_library_paths()); mxnet_dir: libmxnet.so's folder.  With no pip
    libraries at all the user runs a system CUDA on purpose: nothing is foreign then.
    """
    pip_libs = list(_preloaded) if pip_libs is None else pip_libs
    if not pip_libs:
        return []
    if maps_text is None:
        with open("/proc/self/maps") as f:
            maps_text = f.read()
    pip_dirs = {os.path.realpath(os.path.dirname(p)) for p in pip_libs}
    pip_root = {os.path.dirname(os.path.dirname(d)) for d in pip_dirs}  # .../site-packages/nvidia
    if mxnet_dir:  # whatever the mxnet wheel ships beside libmxnet.so is its own, not foreign
        pip_root.add(os.path.realpath(mxnet_dir))
    foreign = []
    for line in maps_text.splitlines():
        fields = line.split(None, 5)  # address perms offset device inode path
        path = fields[5].strip() if len(fields) == 6 else ""
        name = os.path.basename(path)
        if not path.startswith("/") or not name.startswith(_PIP_CUDA_PREFIXES):
            continue
        real = os.path.realpath(path)
        if not any(real.startswith(root + os.sep) for root in pip_root) and path not in foreign:
            foreign.append(path)
    return foreign


def foreign_library_message(foreign: List[str], env: Optional[dict] = None) -> str:
    """One line: which library came from where, and what to unset."""
    env = os.environ if env is None else env
    path = foreign[0]
    folder = os.path.dirname(path)
    more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
    on_path = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    if any(os.path.realpath(d) == os.path.realpath(folder) for d in on_path):
        fix = (f"{folder} is on LD_LIBRARY_PATH, which the dynamic linker searches before the "
               f"pip packages: unset LD_LIBRARY_PATH or drop {folder} from it")
    else:
        fix = "check LD_LIBRARY_PATH, LD_PRELOAD and /etc/ld.so.conf for a system CUDA/cuDNN"
    return (f"{os.path.basename(path)} was loaded from {folder}{more}, not from pip's "
            f"nvidia-*-cu11 packages, so CUDA/cuDNN versions would mix; {fix}")


# --------------------------------------------------------------------------
# The installed library and the CUDA architectures compiled into it
# --------------------------------------------------------------------------

def libmxnet_path() -> Optional[str]:
    """Path of the libmxnet.so that `import mxnet` would load, found without importing it.

    Like mxnet.libinfo, an absolute MXNET_LIBRARY_PATH to an existing file wins
    (so `MXNET_LIBRARY_PATH=$PWD/some.fatbin python -m shim.gpu` reports that file).
    """
    env = os.environ.get("MXNET_LIBRARY_PATH")
    if env and os.path.isabs(env) and os.path.isfile(env):
        return env
    try:
        spec = importlib.util.find_spec("mxnet")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, "libmxnet.so")
        if os.path.isfile(path):
            return path
    return None


ELF_MAGIC = b"\x7fELF"
FATBIN_MAGIC = 0xBA55ED50  # fatBinaryHeader.magic (CUDA's fatbinary.h)
FATBIN_KIND_PTX, FATBIN_KIND_SASS = 1, 2
# fatBinaryHeader: magic u32, version u16, headerSize u16, fatSize u64 (bytes
# of entries after the header).  Entries follow back to back; each entry header
# starts: kind u16, version u16, headerSize u32, payloadSize u64 (padded to 8),
# then at byte 28 the arch as an integer (52 = sm_52).  Compressed payloads
# (flag 0x2000, default since CUDA 11) do not change this layout.
_FATBIN_HEADER = struct.Struct("<IHHQ")
_ENTRY_HEAD = struct.Struct("<HHIQ")
_ENTRY_ARCH_OFFSET = 28


def _elf_section(f, name: str):
    """(offset, size) of the named section of an ELF64 little-endian file, or None."""
    f.seek(0)
    ident = f.read(64)
    if ident[4] != 2 or ident[5] != 1:
        raise ValueError("only 64-bit little-endian ELF files are supported")
    shoff, = struct.unpack_from("<Q", ident, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ident, 0x3A)
    if not shoff or not shnum:
        return None
    f.seek(shoff)
    table = f.read(shentsize * shnum)
    # Elf64_Shdr: name u32, type u32, flags u64, addr u64, offset u64, size u64
    headers = [struct.unpack_from("<IIQQQQ", table, i * shentsize) for i in range(shnum)]
    _, _, _, _, str_off, str_size = headers[shstrndx]
    f.seek(str_off)
    names = f.read(str_size)
    for sh_name, sh_type, _, _, off, size in headers:
        end = names.find(b"\0", sh_name)
        if names[sh_name:end].decode("ascii", "replace") == name and sh_type != 8:  # 8 = NOBITS
            return off, size
    return None


def _arch_name(kind: int, arch: int) -> str:
    return ("compute_%d" if kind == FATBIN_KIND_PTX else "sm_%d") % arch


def fatbin_containers(path: str):
    """Yield (file_offset, total_size, [arch names]) for each fatbin container.

    `path` is an ELF shared object (reads its .nv_fatbin section) or a raw
    fatbin file.  Only the 16-byte container headers and 64-byte entry headers
    are read (seek past payloads), so a 1 GB libmxnet.so takes well under a second.
    """
    with open(path, "rb") as f:
        magic = f.read(4)
        if magic == ELF_MAGIC:
            section = _elf_section(f, ".nv_fatbin")
            if section is None:  # CPU build: no device code at all
                return
            start, size = section
        elif len(magic) == 4 and struct.unpack("<I", magic)[0] == FATBIN_MAGIC:
            start, size = 0, os.path.getsize(path)
        else:
            raise ValueError(f"{path}: neither an ELF file nor a CUDA fatbin")
        pos, end = start, start + size
        while pos + _FATBIN_HEADER.size <= end:
            f.seek(pos)
            magic, _, header_size, fat_size = _FATBIN_HEADER.unpack(f.read(_FATBIN_HEADER.size))
            if magic != FATBIN_MAGIC:
                pos += 8  # containers are 8-byte aligned; skip padding
                continue
            entry, container_end = pos + header_size, min(pos + header_size + fat_size, end)
            archs = []
            while entry + 32 <= container_end:
                f.seek(entry)
                head = f.read(32)
                kind, _, entry_header, payload = _ENTRY_HEAD.unpack_from(head)
                if entry_header < 32:  # corrupt entry: stop this container
                    break
                arch, = struct.unpack_from("<I", head, _ENTRY_ARCH_OFFSET)
                if kind in (FATBIN_KIND_PTX, FATBIN_KIND_SASS):
                    archs.append(_arch_name(kind, arch))
                entry += entry_header + payload
            yield pos, container_end - pos, archs
            pos = (container_end + 7) & ~7


@dataclass
class FatbinInfo:
    sass: List[str]            # union over containers, e.g. ['sm_50', ..., 'sm_86']
    ptx: List[str]             # e.g. ['compute_86'], [] for the published wheels
    containers: int            # number of fatbin containers (about one per .cu file)
    arch_sets: List[List[str]] = field(default_factory=list)  # distinct per-container sets


def _arch_key(name: str) -> int:
    return int(name.rsplit("_", 1)[1])


def fatbin_info(path: str) -> FatbinInfo:
    sets = set()
    count = 0
    for _, _, archs in fatbin_containers(path):
        count += 1
        if archs:
            sets.add(frozenset(archs))
    union = set().union(*sets) if sets else set()
    pick = lambda prefix: sorted((a for a in union if a.startswith(prefix)), key=_arch_key)
    return FatbinInfo(pick("sm_"), pick("compute_"), count,
                      sorted((sorted(s, key=_arch_key) for s in sets), key=str))


def fatbin_archs(path: str):
    """(sass, ptx) compiled into `path`: (['sm_50', ...], ['compute_XY', ...]).

    No .nv_fatbin section (CPU build) -> ([], []).
    """
    info = fatbin_info(path)
    return info.sass, info.ptx


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
    sass = [a for a in archs if a.startswith("sm_") and _arch_key(a) // 10 == major
            and _arch_key(a) % 10 <= minor]
    if sass:
        return max(sass, key=_arch_key)
    ptx = [a for a in archs if a.startswith("compute_") and _arch_key(a) <= major * 10 + minor]
    return max(ptx, key=_arch_key) if ptx else None


def runs_on(sass: List[str], ptx: List[str]) -> str:
    """Human text of the compute capabilities a build runs on, e.g. '5.0-8.9'."""
    ranges = []  # [(major, minor) low, (major, minor) high]
    for major in sorted({_arch_key(a) // 10 for a in sass}):
        low = min(_arch_key(a) % 10 for a in sass if _arch_key(a) // 10 == major)
        high = (major, _MAX_MINOR.get(major, 9))
        if ranges and low == 0 and ranges[-1][1] == (major - 1, _MAX_MINOR.get(major - 1, 9)):
            ranges[-1][1] = high  # contiguous with the previous major: merge
        else:
            ranges.append([(major, low), high])
    parts = ["%d.%d-%d.%d" % (lo + hi) if lo != hi else "%d.%d" % lo for lo, hi in ranges]
    if ptx:
        parts.append("any >= %d.%d via PTX JIT" % divmod(min(map(_arch_key, ptx)), 10))
    return ", ".join(parts) if parts else "none"


# --------------------------------------------------------------------------
# The driver's view of the GPUs
# --------------------------------------------------------------------------

class GPU(NamedTuple):
    index: int                 # the index MXNet uses: mx.gpu(index)
    name: str
    compute_capability: str    # '9.0'; '?' when the driver is too old to say
    memory_mib: int
    uuid: str = ""
    driver_index: Optional[int] = None  # nvidia-smi's index when CUDA_VISIBLE_DEVICES renumbers


_SMI_QUERY = "index,name,compute_cap,memory.total,uuid"


def _parse_smi(text: str) -> List[GPU]:
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4 or not parts[0].isdigit():
            continue
        uuid = parts.pop() if parts[-1].startswith(("GPU-", "MIG-")) else ""
        index, cc, mem = parts[0], parts[-2], parts[-1]
        name = ", ".join(parts[1:-2])  # a name with a comma would have been split
        cc = cc if re.fullmatch(r"\d+\.\d+", cc) else "?"
        mib = int(mem) if mem.isdigit() else 0
        gpus.append(GPU(int(index), name, cc, mib, uuid, int(index)))
    return gpus


def _visible(gpus: List[GPU], cvd: Optional[str]) -> List[GPU]:
    """Apply CUDA_VISIBLE_DEVICES the way the CUDA runtime does: keep the listed
    GPUs (by index or UUID prefix) in that order, renumbered from 0; the list
    stops at the first entry that matches nothing.  (CUDA numbers devices
    fastest-first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, nvidia-smi by PCI bus: bench.py
    sets CUDA_DEVICE_ORDER=PCI_BUS_ID for every cell and the smoke check, so that
    mx.gpu(i) is the GPU judged here even on a host with mixed GPU models.)"""
    if cvd is None:
        return gpus
    visible = []
    for token in cvd.split(","):
        token = token.strip()
        match = [g for g in gpus if (token.isdigit() and g.index == int(token))
                 or (token and not token.isdigit() and g.uuid.startswith(token))]
        if not match:
            break
        visible.append(match[0]._replace(index=len(visible)))
    return visible


def driver_gpus(nvidia_smi: str = "nvidia-smi", text: Optional[str] = None,
                env: Optional[dict] = None):
    """GPUs as the NVIDIA driver reports them: (list of GPU, reason or None).

    Read from nvidia-smi, not MXNet, so it works with a CPU build or no mxnet.
    Tests pass `text` (nvidia-smi's CSV answer) or a fake `nvidia_smi` script.
    No driver or no nvidia-smi -> ([], reason).
    """
    env = os.environ if env is None else env
    if text is None:
        cmd = [nvidia_smi, "--query-gpu=" + _SMI_QUERY, "--format=csv,noheader,nounits"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            return [], f"{nvidia_smi} not found"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [], f"{nvidia_smi} failed: {exc}"
        if out.returncode != 0 and "compute_cap" in out.stdout + out.stderr:
            # Drivers before ~510 do not know the compute_cap field: ask without it.
            cmd[1] = "--query-gpu=index,name,memory.total,uuid"
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            lines = []
            for line in out.stdout.splitlines():
                p = [x.strip() for x in line.split(",")]
                if len(p) >= 4:
                    lines.append(", ".join(p[:-2] + ["?"] + p[-2:]))
            out.stdout = "\n".join(lines)
        if out.returncode != 0:
            first = (out.stdout + out.stderr).strip().splitlines() or ["no output"]
            return [], f"{nvidia_smi} exit {out.returncode}: {first[0]}"
        text = out.stdout
    gpus = _visible(_parse_smi(text), env.get("CUDA_VISIBLE_DEVICES"))
    if not gpus and mig_tokens(env):
        return [], f"CUDA_VISIBLE_DEVICES names MIG slice {mig_tokens(env)[0]}"
    if not gpus:
        why = "no GPU visible"
        if env.get("CUDA_VISIBLE_DEVICES") is not None:
            why += f" (CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']!r})"
        return [], why
    return gpus, None


# MXNet 1.9.1 fuses chains of pointwise operators on GPUs (MXNET_USE_FUSION, on by
# default, on both sides) and compiles them at run time with pip's NVRTC 11.8,
# which emits PTX ISA 7.8.  CUDA's minor-version compatibility covers the runtime
# libraries but not PTX: a driver older than CUDA 11.8's (520.61.05) refuses it with
# CUDA_ERROR_UNSUPPORTED_PTX_VERSION in the first epoch.  Refused up front instead.
MIN_DRIVER = (520, 61, 5)
_DRIVER_QUERY = "index,driver_version,mig.mode.current"


class DriverFacts(NamedTuple):
    version: Optional[str]     # '535.104.05'; None when nvidia-smi did not say
    mig: dict                  # nvidia-smi index -> True when MIG mode is enabled


def _version_tuple(text: str):
    return tuple(int(p) for p in text.split("."))


def driver_facts(nvidia_smi: str = "nvidia-smi", text: Optional[str] = None) -> DriverFacts:
    """The driver's version and each GPU's MIG mode (nvidia-smi; `text` = its CSV answer).

    Anything unreadable leaves the fact unknown (None / absent), never a refusal.
    """
    if text is None:
        cmd = [nvidia_smi, "--query-gpu=" + _DRIVER_QUERY, "--format=csv,noheader,nounits"]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            if out.returncode != 0:  # a driver too old to know MIG: ask for the version alone
                cmd[1] = "--query-gpu=index,driver_version"
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return DriverFacts(None, {})
        text = out.stdout if out.returncode == 0 else ""
    version, mig = None, {}
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0].isdigit() or not re.fullmatch(r"\d+(\.\d+)+", parts[1]):
            continue
        version = version or parts[1]
        mig[int(parts[0])] = len(parts) > 2 and parts[2].lower() == "enabled"
    return DriverFacts(version, mig)


def mig_tokens(env: Optional[dict] = None) -> List[str]:
    """The MIG slices (MIG-... UUIDs) CUDA_VISIBLE_DEVICES names."""
    env = os.environ if env is None else env
    return [t.strip() for t in (env.get("CUDA_VISIBLE_DEVICES") or "").split(",")
            if t.strip().startswith("MIG-")]


# --------------------------------------------------------------------------
# MXNet's own build flags
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------

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


def _span(indices: List[int]) -> str:
    if not indices:
        return "no GPUs"
    if indices == list(range(indices[0], indices[-1] + 1)) and len(indices) > 1:
        return f"gpu:{indices[0]}-{indices[-1]}"
    return ", ".join(f"gpu:{i}" for i in indices)


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
                       f"{_span([g.index for g in report.gpus])}{where}")
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
        arch = max(picks, key=lambda a: (a.startswith("sm_"), _arch_key(a)))
    if report.driver.mig.get(gpu.driver_index):
        return Verdict(index, MIG, f"gpu:{index} ({gpu.name}) is in MIG mode: {MIG_FIX}; "
                       f"disable MIG on it (sudo nvidia-smi -i {gpu.driver_index} -mig 0) or use "
                       f"another GPU", gpu, arch)
    version = report.driver.version
    if version and _version_tuple(version) < MIN_DRIVER:
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


def _parse_indices(requested) -> List[int]:
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
    requested = _parse_indices(requested_gpu_indices)
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


# --------------------------------------------------------------------------
# The smoke check: MXNet's own kernels on each requested GPU, in a child process
# --------------------------------------------------------------------------

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
    import json

    try:
        import shim

        mx = shim.import_mxnet()
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


_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout


def smoke_command(indices: List[int]) -> List[str]:
    return [sys.executable, "-m", "shim.gpu", "--smoke", ",".join(map(str, indices))]


def smoke_check(report: Report, env: Optional[dict] = None, command: Optional[List[str]] = None,
                timeout_s: float = SMOKE_TIMEOUT_S) -> Optional[Verdict]:
    """Run the smoke check for report.requested in a child with `env` (the cells' environment);
    None when every GPU passed, else the first problem's Verdict.  `command` replaces the child
    (tests); it must print smoke_main()'s JSON lines."""
    import json

    env = dict(os.environ if env is None else env)
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")   # the numbering nvidia-smi uses
    command = command or smoke_command(report.requested)
    first = report.requested[0] if report.requested else 0
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=_ROOT,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return Verdict(first, SMOKE_FAILED, f"the GPU smoke check did not finish in {timeout_s:g} "
                       f"s on {_span(report.requested)}; is a GPU hung or busy (nvidia-smi)?")
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


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------

def _table(rows, headers=()) -> str:
    try:
        from tabulate import tabulate
        return tabulate(rows, headers=headers or (), tablefmt="simple", disable_numparse=True)
    except ImportError:  # e.g. a bare machine used only for the preflight
        rows = [list(map(str, r)) for r in ([headers] if headers else []) + list(rows)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def format_report(report: Report) -> str:
    f = report.features
    if f.get("CUDA") is None:
        build = f.get("reason") or "mxnet not importable"
    else:
        build = f"mxnet {f.get('version')}: " + ", ".join(
            f"{k} {'on' if f.get(k) else 'off'}" for k in ("CUDA", "CUDNN", "NCCL"))
    fb = report.fatbin
    rows = [("mxnet build", build), ("library", report.lib_path or report.lib_reason)]
    if fb is not None:
        if fb.sass or fb.ptx:
            rows += [("SASS", " ".join(fb.sass) or "none"), ("PTX", " ".join(fb.ptx) or "none"),
                     ("runs on cc", runs_on(fb.sass, fb.ptx)),
                     ("fatbins", f"{fb.containers}" + (
                         "" if len(fb.arch_sets) <= 1 else f" ({len(fb.arch_sets)} different arch sets)"))]
        else:
            rows.append(("archs", "no GPU code (no .nv_fatbin section: CPU build)"))
    rows.append(("driver", report.driver_reason or f"{len(report.gpus)} GPU(s)" + (
        f", driver {report.driver.version}" if report.driver.version else "")))
    out = [_table(rows)]
    gpu_rows = []
    for v in report.verdicts:
        g = v.gpu
        mark = "*" if v.index in report.requested else ""
        gpu_rows.append((f"gpu:{v.index}{mark}", g.name if g else "-", g.compute_capability if g else "-",
                         g.memory_mib if g else "-", v.arch or "-",
                         v.code if v.ok else f"{v.code}"))
    if gpu_rows:
        out.append(_table(gpu_rows, ("gpu", "name", "cc", "MiB", "runs", "verdict")))
    if report.requested:
        out.append("requested: " + ", ".join(f"gpu:{i}" for i in report.requested) + " -> " +
                   ("all usable" if report.ok else report.problems[0].message))
    return "\n\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shim.gpu", description=__doc__.split("\n")[0])
    ap.add_argument("--gpus", default="", help="GPU indices to check, e.g. 0,1 (default: report only)")
    ap.add_argument("--lib", default=None,
                    help="read CUDA archs from this .so or raw .fatbin instead of the installed libmxnet.so")
    ap.add_argument("--nvidia-smi", default="nvidia-smi", help=argparse.SUPPRESS)
    ap.add_argument("--smoke", default=None, help=argparse.SUPPRESS)  # the smoke check's child
    args = ap.parse_args(argv)
    if args.smoke is not None:
        return smoke_main(_parse_indices(args.smoke))
    try:
        requested = _parse_indices(args.gpus)
    except ValueError:
        ap.error(f"--gpus wants indices like 0,1, not {args.gpus!r}")
    report = preflight(requested, lib_path=args.lib, nvidia_smi=args.nvidia_smi)
    print(format_report(report))
    problem = report.problems[0] if report.problems else None
    if problem is None and requested:
        problem = smoke_check(report)
        print(f"smoke check ({', '.join(SMOKE_STEPS)}): " + (problem.code if problem else "ok"))
    if problem:
        print(f"preflight: {problem.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
