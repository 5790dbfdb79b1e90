"""Load a fatbin on GPU 0 with the CUDA driver API (ctypes, no CUDA toolkit, no mxnet).

    python3 -m tests.programs.cuda_load_fatbin tests/fixtures/mxnet_cu112_one_kernel.fatbin

(from the checkout's root: lab/hopper_check.sh runs it so, and tests/test_gpu_preflight.py
checks that it fails cleanly on a machine without a driver)

1. cuModuleLoadData(fatbin): the driver picks the image for this GPU or fails;
   on compute capability 9.0 we expect 209 CUDA_ERROR_NO_BINARY_FOR_GPU
   ("no kernel image is available for execution on the device"), which is what
   MXNet's first operator would hit.
2. Control: a tiny PTX kernel for compute_50 (JIT-compiled by the driver for
   this GPU) that writes 42 to device memory, so a failure in 1 is known to be
   about the missing architecture, not a broken GPU or driver.
3. Compare with shim.gpu's prediction for this compute capability.

Exit 0: driver and prediction agree; 1: they disagree or the control failed;
3: libcuda not found (no NVIDIA driver on this machine).
"""
import ctypes
import os
import sys

from shim.gpu.archs import runnable   # shim and shim.gpu need only the standard library here
from shim.gpu.fatbin import fatbin_archs

PTX = b"""
.version 6.0
.target sm_50
.address_size 64
.visible .entry set42(.param .u64 out)
{
    .reg .b32 %r<2>;
    .reg .b64 %rd<3>;
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd2, %rd1;
    mov.u32 %r1, 42;
    st.global.u32 [%rd2], %r1;
    ret;
}
\0"""

CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


def load_libcuda():
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else os.path.join(os.path.dirname(__file__), "..", "fixtures",
                                             "mxnet_cu112_one_kernel.fatbin")
    sass, ptx = fatbin_archs(path)
    print(f"{path}: SASS {','.join(sass) or '-'}, PTX {','.join(ptx) or '-'}")
    cuda = load_libcuda()
    if cuda is None:
        print("libcuda not found: no NVIDIA driver here, nothing loaded")
        return 3

    def name_of(rc):
        p = ctypes.c_char_p()
        cuda.cuGetErrorName(rc, ctypes.byref(p))
        s = ctypes.c_char_p()
        cuda.cuGetErrorString(rc, ctypes.byref(s))
        return f"{rc} {(p.value or b'?').decode()} ({(s.value or b'?').decode()})"

    def call(fn, *args):
        rc = getattr(cuda, fn)(*args)
        if rc != 0:
            raise RuntimeError(f"{fn}: {name_of(rc)}")

    # Explicit types where ctypes' int default would be wrong (size_t, 64-bit pointers).
    u64, size_t, vp = ctypes.c_uint64, ctypes.c_size_t, ctypes.c_void_p
    cuda.cuMemAlloc_v2.argtypes = [ctypes.POINTER(u64), size_t]
    cuda.cuMemcpyDtoH_v2.argtypes = [vp, u64, size_t]
    cuda.cuMemFree_v2.argtypes = [u64]
    cuda.cuLaunchKernel.argtypes = [vp] + [ctypes.c_uint] * 7 + [vp, vp, vp]

    dev, ctx = ctypes.c_int(), ctypes.c_void_p()
    major, minor = ctypes.c_int(), ctypes.c_int()
    devname = ctypes.create_string_buffer(256)
    try:
        call("cuInit", 0)
        call("cuDeviceGet", ctypes.byref(dev), 0)
        call("cuDeviceGetName", devname, 256, dev)
        call("cuDeviceGetAttribute", ctypes.byref(major), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev)
        call("cuDeviceGetAttribute", ctypes.byref(minor), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev)
        # The primary context is what the CUDA runtime (and so MXNet) uses.
        call("cuDevicePrimaryCtxRetain", ctypes.byref(ctx), dev)
        call("cuCtxSetCurrent", ctx)
    except RuntimeError as exc:
        print(f"driver set-up failed: {exc}")
        return 1
    cc = f"{major.value}.{minor.value}"
    print(f"device 0: {devname.value.decode()}, compute capability {cc}")

    # 1. The real MXNet fatbin, through both entry points.
    with open(path, "rb") as f:
        raw = f.read()
    raw += b"\0" * (-len(raw) % 8)
    image = (ctypes.c_uint64 * (len(raw) // 8)).from_buffer_copy(raw)  # 8-byte aligned copy
    results = {}
    for fn in ("cuModuleLoadData", "cuModuleLoadFatBinary"):
        module = ctypes.c_void_p()
        rc = getattr(cuda, fn)(ctypes.byref(module), image)
        results[fn] = rc
        print(f"{fn}(mxnet fatbin) -> {name_of(rc)}")
        if rc == 0:
            cuda.cuModuleUnload(module)

    # 2. Control: PTX JIT + a one-thread kernel launch.
    control = False
    try:
        module, func, dptr, out = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_uint64(), ctypes.c_uint32(0)
        call("cuModuleLoadData", ctypes.byref(module), ctypes.c_char_p(PTX))
        call("cuModuleGetFunction", ctypes.byref(func), module, b"set42")
        call("cuMemAlloc_v2", ctypes.byref(dptr), 4)
        params = (ctypes.c_void_p * 1)(ctypes.cast(ctypes.byref(dptr), ctypes.c_void_p))
        call("cuLaunchKernel", func, 1, 1, 1, 1, 1, 1, 0, None, params, None)
        call("cuCtxSynchronize")
        call("cuMemcpyDtoH_v2", ctypes.byref(out), dptr, 4)
        call("cuMemFree_v2", dptr)
        control = out.value == 42
        print(f"control: PTX compute_50 JIT-compiled, kernel wrote {out.value} -> "
              f"{'GPU works' if control else 'WRONG VALUE'}")
    except RuntimeError as exc:
        print(f"control failed: {exc}")

    # 3. Does the driver agree with shim.gpu's prediction?
    predicted = runnable(cc, sass + ptx)
    loaded = results["cuModuleLoadData"] == 0
    print(f"shim.gpu predicts: {'runs ' + predicted if predicted else 'no kernel image for cc ' + cc}; "
          f"driver: {'loaded' if loaded else 'refused'}")
    agree = (predicted is not None) == loaded
    print("AGREE" if agree and control else "DISAGREE" if not agree else "CONTROL FAILED")
    cuda.cuDevicePrimaryCtxRelease(dev)
    return 0 if agree and control else 1


if __name__ == "__main__":
    sys.exit(main())
