"""The libraries a GPU build of MXNet loads: pip's CUDA 11 ones (the nvidia-*-cu11 wheels), made
loadable before `import mxnet` and checked for a foreign copy afterwards, and libmxnet.so itself.

`shim.import_mxnet` needs only this module: it stays free of the rest of the preflight.
"""
import ctypes
import importlib.util
import os
import sys
import warnings
from typing import List, Optional


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

