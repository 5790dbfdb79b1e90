"""The GPU path's checks that run without a GPU (issue 13): the last partial batch, the peak's
device, pip's CUDA libraries against a foreign LD_LIBRARY_PATH, the driver version, device
numbering, MIG, local dist_sync on GPUs and the smoke check, each on CPU with fakes."""
import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweep import args as sweep_args
from sweep import environment
from sweep import loop
from tests.helpers import cell_row, read_csv

ROOT = Path(__file__).resolve().parents[1]


def run_bench(*args, timeout=300):
    return subprocess.run([sys.executable, "bench.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


# ---------------------------------------------------------------- the last partial batch

@pytest.mark.slow
@pytest.mark.parametrize("args, says", [
    # the command: 1025 = 8 x 128 + 1, one sample for two contexts
    (["--ctx", "cpu:0-1", "--batch-sizes", "128", "--max-samples", "1025"],
     "lenet's 1025 training samples leave a last batch of 1 for 2 contexts, which neither side "
     "can split; use --max-samples 1024"),
    # full data: IMDB's 25000 = 641 x 39 + 1
    (["--ctx", "cpu:0-2", "--batch-sizes", "39", "--scenario", "rnn"],
     "rnn's 25000 training samples leave a last batch of 1 for 3 contexts"),
    # dist_sync trains whole global batches only, but validation predicts every sample
    (["--ctx", "cpu:0-1", "--batch-sizes", "128", "--max-samples", "1025", "--kvstore",
      "dist_sync", "--workers", "1"], "1025 validation samples leave a last batch of 1"),
])
def test_a_last_batch_smaller_than_the_device_count_is_refused_in_one_line(args, says):
    done = run_bench(*args, "--data", "synthetic", timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_last_batch_of_one_sample_per_context_is_measured_on_both_sides(tmp_path):
    # 258 = 2 x 128 + 2: the smallest last batch two contexts can split; both sides train it.
    out = tmp_path / "out"
    done = run_bench("--ctx", "cpu:0-1", "--batch-sizes", "128", "--max-samples", "258",
                     "--scenario", "lenet", "--data", "synthetic", "--epochs", "2", "--quiet",
                     "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["impl"]: r for r in read_csv(out / "runs.csv")}
    assert set(rows) == {"keras", "gluon"}
    for row in rows.values():
        assert row["status"] == "ok", row["reason"]
        assert (row["train_samples"], row["val_samples"]) == ("258", "258")


# ---------------------------------------------------------------- the peak's device

def write_rows(path, rows):
    from report import storage

    for row in rows:
        storage.append_row(path, row)


def row_of(ctx, gflops, **extra):
    return cell_row("gluon", 1.0, ctx=ctx, samples_per_s=1000.0, gflops_per_s=gflops, **extra)


def test_a_gpu_row_never_gets_a_cpu_peak_fraction(tmp_path):
    from report import storage

    write_rows(tmp_path / "runs.csv", [
        row_of("cpu", 50.0),
        row_of("gpu:0", 3000.0),
        # written before peak_device existed, against a CPU peak: 3000 / 100 = "3000% of peak"
        row_of("gpu:0-1", 3000.0, peak_fraction=30.0),
        row_of("cpu:0-1", 40.0, peak_fraction=0.4),
    ])
    (tmp_path / "peak.json").write_text('{"gflops": 100.0}')   # an old file: a CPU rate
    cpu, gpu, old_gpu, old_cpu = storage.read_machine(tmp_path)
    assert (cpu["peak_fraction"], cpu["peak_device"]) == (0.5, "cpu")
    assert (gpu["peak_fraction"], gpu["peak_device"]) == (None, None)
    assert (old_gpu["peak_fraction"], old_gpu["peak_device"]) == (None, None)
    assert (old_cpu["peak_fraction"], old_cpu["peak_device"]) == (0.4, "cpu")

    (tmp_path / "peak.json").write_text('{"gflops": 10000.0, "device": "gpu"}')
    cpu, gpu, old_gpu, old_cpu = storage.read_machine(tmp_path)
    assert (cpu["peak_fraction"], gpu["peak_fraction"]) == (None, 0.3)
    assert gpu["peak_device"] == "gpu"
    assert old_gpu["peak_fraction"] == 0.3   # its CPU fraction dropped, the GPU peak's taken
    (tmp_path / "peak.json").write_text('{"gflops": 10000.0, "device": "tpu"}')
    assert storage.load_peak(tmp_path) is None   # a peak of no known device is no roof


@pytest.mark.slow
def test_a_cpu_cell_records_the_peak_and_its_device(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "peak.json").write_text('{"gflops": 100.0}')
    done = run_bench("--ctx", "cpu", "--impl", "gluon", "--batch-sizes", "64", "--max-samples",
                     "128", "--scenario", "lenet", "--data", "synthetic", "--epochs", "2",
                     "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    row, = read_csv(out / "runs.csv")
    assert row["peak_device"] == "cpu"
    assert float(row["peak_fraction"]) == round(float(row["gflops_per_s"]) / 100.0, 4)


def test_measure_peak_says_it_measured_the_cpu():
    from cell import peak

    assert peak.measure_peak(seconds=0.05, n=256)["device"] == "cpu"


# ---------------------------------------------------------------- pip's CUDA libraries only

CUDNN_SUBLIBRARIES = {  # cuDNN 8 API reference, "library dependencies"
    "libcudnn_ops_infer.so.8": [],
    "libcudnn_ops_train.so.8": ["libcudnn_ops_infer.so.8"],
    "libcudnn_cnn_infer.so.8": ["libcudnn_ops_infer.so.8"],
    "libcudnn_cnn_train.so.8": ["libcudnn_ops_infer.so.8", "libcudnn_ops_train.so.8",
                                "libcudnn_cnn_infer.so.8"],
    "libcudnn_adv_infer.so.8": ["libcudnn_ops_infer.so.8"],
    "libcudnn_adv_train.so.8": ["libcudnn_ops_infer.so.8", "libcudnn_ops_train.so.8",
                                "libcudnn_adv_infer.so.8"],
}


def test_cudnn_sublibraries_preload_after_their_dependencies_and_cublas():
    from shim import gpu

    order = [soname for _, soname in gpu.CUDA11_LIBS]
    for lib, needs in CUDNN_SUBLIBRARIES.items():
        assert all(order.index(n) < order.index(lib) for n in needs + ["libcublas.so.11"]), lib
    assert order.index("libnvrtc.so.11.2") < order.index("libnvrtc-builtins.so.11.8")


def test_importing_shim_loads_only_the_cuda_library_loader_of_the_preflight():
    # shim.import_mxnet runs in every cell: it needs shim.gpu.libraries, none of the preflight.
    code = ("import json, sys, shim; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('shim', 'mxnet')))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["shim", "shim.gpu", "shim.gpu.libraries"]


def build_fake_lib(folder, soname, origin, needs=()):
    """A real shared object named `soname` whose fake_origin() returns `origin`."""
    import shutil

    gcc = shutil.which("gcc") or pytest.skip("gcc is needed to build fake shared libraries")
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / (soname + ".c")
    source.write_text(f'const char *fake_origin(void) {{ return "{origin}"; }}\n')
    links = [f"-l:{n}" for n in needs]
    subprocess.run([gcc, "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-Wl,-rpath,$ORIGIN",
                    "-Wl,--enable-new-dtags", "-o", str(folder / soname), str(source),
                    f"-L{folder}", "-Wl,--no-as-needed", *links], check=True, capture_output=True)


CHILD = """
import ctypes, json, sys
from shim import gpu
site = {site!r}
if sys.argv[1] == "preload":
    gpu.add_cuda_library_paths(roots=[site])
origin = {{}}
for soname in ("libcudnn_ops_train.so.8", "libcudnn_ops_infer.so.8", "libcudnn_adv_train.so.8",
               "libnvrtc-builtins.so.11.8"):
    lib = ctypes.CDLL(soname)    # by soname, as libcudnn.so.8 and libnvrtc load them
    lib.fake_origin.restype = ctypes.c_char_p
    origin[soname] = lib.fake_origin().decode()
foreign = gpu.foreign_cuda_libraries(pip_libs=gpu.find_cuda_libs([site]))
print(json.dumps({{"origin": origin, "foreign": foreign,
                   "message": foreign and gpu.foreign_library_message(foreign)}}))
"""


@pytest.fixture(scope="module")
def fake_cuda(tmp_path_factory):
    """pip's cuDNN and NVRTC in a fake site-packages, and a foreign cuDNN/NVRTC folder."""
    root = tmp_path_factory.mktemp("cuda")
    site, foreign = root / "site-packages", root / "usr-local-cuda-lib64"
    for folder, origin in ((site / "nvidia" / "cudnn" / "lib", "pip"), (foreign, "foreign")):
        for lib, needs in CUDNN_SUBLIBRARIES.items():
            build_fake_lib(folder, lib, origin, needs)
        build_fake_lib(folder, "libcudnn.so.8", origin)
    for folder, origin in ((site / "nvidia" / "cuda_nvrtc" / "lib", "pip"), (foreign, "foreign")):
        build_fake_lib(folder, "libnvrtc-builtins.so.11.8", origin)
        build_fake_lib(folder, "libnvrtc.so.11.2", origin)
    return site, foreign


def load_in_child(site, foreign, mode):
    env = dict(os.environ, LD_LIBRARY_PATH=str(foreign))
    done = subprocess.run([sys.executable, "-c", CHILD.format(site=str(site)), mode], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_foreign_cudnn_on_ld_library_path_wins_without_the_preload(fake_cuda):
    # What happened before: RUNPATH $ORIGIN loses to LD_LIBRARY_PATH, and the check sees it.
    site, foreign = fake_cuda
    seen = load_in_child(site, foreign, "bare")
    assert set(seen["origin"].values()) == {"foreign"}
    assert sorted(map(os.path.basename, seen["foreign"])) == sorted(
        ["libnvrtc-builtins.so.11.8", *CUDNN_SUBLIBRARIES.keys() - {"libcudnn_cnn_infer.so.8",
                                                                     "libcudnn_cnn_train.so.8"}])
    assert all(os.path.dirname(p) == str(foreign) for p in seen["foreign"])
    assert f".so.8 was loaded from {foreign} (and 4 more), not from pip's" in seen["message"] \
        or f".so.11.8 was loaded from {foreign} (and 4 more), not from pip's" in seen["message"]
    assert f"{foreign} is on LD_LIBRARY_PATH" in seen["message"]
    assert "unset LD_LIBRARY_PATH" in seen["message"]


def test_the_preload_takes_cudnn_and_nvrtc_builtins_from_pip_whatever_ld_library_path_says(
        fake_cuda):
    site, foreign = fake_cuda
    seen = load_in_child(site, foreign, "preload")
    assert seen["origin"] == {name: "pip" for name in seen["origin"]}
    assert seen["foreign"] == [] and not seen["message"]


def test_no_pip_cuda_means_nothing_is_foreign():
    from shim import gpu

    maps = "7f0-7f1 r-xp 0 08:01 1 /usr/local/cuda/lib64/libcudnn.so.8.9.7\n"
    assert gpu.foreign_cuda_libraries(maps, pip_libs=[]) == []
    pip = ["/venv/site-packages/nvidia/cudnn/lib/libcudnn.so.8"]
    assert gpu.foreign_cuda_libraries(maps, pip_libs=pip) == ["/usr/local/cuda/lib64/libcudnn.so.8.9.7"]
    driver = "7f0-7f1 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libcuda.so.1\n"
    assert gpu.foreign_cuda_libraries(driver, pip_libs=pip) == []   # the driver's is no pip lib
    bundled = "7f0-7f1 r-xp 0 08:01 1 /venv/site-packages/mxnet/libnccl.so.2\n"
    assert gpu.foreign_cuda_libraries(bundled, pip_libs=pip) == ["/venv/site-packages/mxnet/libnccl.so.2"]
    assert gpu.foreign_cuda_libraries(bundled, pip_libs=pip, mxnet_dir="/venv/site-packages/mxnet") == []


# ---------------------------------------------------------------- driver version and MIG

FIXTURE = str(ROOT / "tests" / "fixtures" / "mxnet_cu112_one_kernel.fatbin")  # sm_50..sm_86
CUDA_ON = {"CUDA": True, "CUDNN": True, "NCCL": True, "version": "1.9.1", "reason": None}
TWO_A100 = ("0, NVIDIA A100-SXM4-40GB, 8.0, 40960, GPU-33333333-cccc\n"
            "1, NVIDIA A100-SXM4-40GB, 8.0, 40960, GPU-55555555-eeee\n")


def preflight(requested, driver_text, env=None, smi_text=TWO_A100):
    from shim import gpu

    return gpu.preflight(requested, lib_path=FIXTURE, features=CUDA_ON, smi_text=smi_text,
                         driver_text=driver_text, env=env or {})


def test_driver_facts_from_nvidia_smi():
    from shim import gpu

    facts = gpu.driver_facts(text="0, 470.82.01, Disabled\n1, 470.82.01, Enabled\n2, 470.82.01, [N/A]")
    assert facts == gpu.DriverFacts("470.82.01", {0: False, 1: True, 2: False})
    assert gpu.driver_facts(text="0, NVIDIA H100 80GB HBM3, 9.0, 81559") == gpu.DriverFacts(None, {})


@pytest.mark.parametrize("version, ok", [("470.82.01", False), ("515.65.01", False),
                                         ("520.61.05", True), ("535.104.05", True), (None, True)])
def test_a_driver_older_than_cuda_11_8s_is_refused_in_one_line(version, ok):
    from shim import gpu

    report = preflight([0, 1], f"0, {version}, Disabled\n1, {version}, Disabled" if version else "")
    assert report.ok is ok
    if not ok:
        message = report.problems[0].message
        assert report.problems[0].code == gpu.OLD_DRIVER and "\n" not in message
        assert message.startswith(f"NVIDIA driver {version} found, 520.61.05 or newer needed")
        assert message.endswith("update the NVIDIA driver to R520 or newer")


def test_the_driver_is_asked_through_nvidia_smi(tmp_path):
    from shim import gpu

    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\ncase \"$1\" in *driver_version*) echo '0, 450.80.02, Disabled';;\n"
                   "*) echo '0, Tesla V100-SXM2-16GB, 7.0, 16160, GPU-9';; esac\n")
    smi.chmod(0o755)
    report = gpu.preflight([0], lib_path=FIXTURE, features=CUDA_ON, nvidia_smi=str(smi), env={})
    assert report.driver.version == "450.80.02" and report.problems[0].code == gpu.OLD_DRIVER
    assert "driver 450.80.02" in gpu.format_report(report)
    # a driver that does not know the MIG field still says its version
    smi.write_text("#!/bin/sh\ncase \"$1\" in *mig*) echo 'Field \"mig.mode.current\" is not "
                   "a valid field to query.'; exit 2;;\n*driver_version*) echo '0, 418.40.04';;\n"
                   "*) echo '0, Tesla V100-SXM2-16GB, 7.0, 16160, GPU-9';; esac\n")
    assert gpu.driver_facts(str(smi)) == gpu.DriverFacts("418.40.04", {0: False})


def test_mig_slices_and_mig_mode_are_refused_with_a_clear_line():
    from shim import gpu

    report = preflight([0], "0, 535.104.05, Enabled",
                       env={"CUDA_VISIBLE_DEVICES": "MIG-4f7b0a2c-1111-2222-3333-444455556666"})
    v = report.problems[0]
    assert v.code == gpu.MIG and "no GPU visible" not in v.message
    assert v.message.startswith("CUDA_VISIBLE_DEVICES names MIG slice MIG-4f7b0a2c-")
    assert "whole GPUs" in v.message and "unset it" in v.message
    report = preflight([0, 1], "0, 535.104.05, Disabled\n1, 535.104.05, Enabled")
    v = report.problems[0]
    assert (v.index, v.code) == (1, gpu.MIG)
    assert "sudo nvidia-smi -i 1 -mig 0" in v.message


# ---------------------------------------------------------------- device numbering, dist_sync

def test_every_cell_and_the_smoke_check_number_gpus_by_pci_bus(monkeypatch):
    from shim.gpu import judge

    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    assert environment.cell_environment({"ctx": "gpu:0-1", "workers": 1})["CUDA_DEVICE_ORDER"] == \
        "PCI_BUS_ID"
    seen = {}
    monkeypatch.setattr(judge, "check", lambda indices, **kw: seen.update(kw, indices=indices))
    args = sweep_args.parser().parse_args(["--ctx", "gpu:0,2", "--data", "synthetic"])
    sweep_args.validate(args)
    assert loop.preflight(args) == [0, 2]
    assert seen["indices"] == [0, 2]
    assert seen["smoke_env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert seen["smoke_env"]["OMP_NUM_THREADS"] == environment.cell_environment(
        {"ctx": "gpu:0,2", "workers": 1})["OMP_NUM_THREADS"]


@pytest.mark.slow
def test_local_dist_sync_on_gpus_is_refused_in_one_line():
    done = run_bench("--kvstore", "dist_sync", "--workers", "2", "--ctx", "gpu:0-3",
                     "--batch-sizes", "64", timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "would all train on the same GPUs" in lines[0]


# ---------------------------------------------------------------- the smoke check

def test_the_smoke_steps_run_on_a_cpu_context():
    # The child's own code, on mx.cpu(): Conv2D, the fused LSTM and the pointwise chain, forward
    # and backward, the pointwise values checked against numpy.
    import shim
    from shim import gpu

    mx = shim.import_mxnet()
    gpu.smoke_on(mx, mx.cpu())
    with pytest.raises(RuntimeError, match="^Conv2D: MXNetError"):
        gpu.smoke_on(mx, mx.gpu(0))      # this CPU build: one line naming the failed step


def fake_child(*lines, exit_status=0, sleep=0):
    """A smoke-check child that prints `lines` (JSON objects) and exits."""
    code = ("import json, sys, time; time.sleep(%r); "
            "[print(json.dumps(l)) for l in %r]; sys.exit(%d)" % (sleep, list(lines), exit_status))
    return [sys.executable, "-c", code]


PASSED = [{"index": 0, "error": None}, {"index": 1, "error": None},
          {"index": None, "error": None, "foreign": None}]


@pytest.mark.parametrize("child, code, says", [
    (fake_child(*PASSED), None, None),
    (fake_child({"index": 1, "error": "Conv2D: MXNetError: Check failed: e == cudaSuccess: CUDA: "
                 "no kernel image is available for execution on the device"}, exit_status=1),
     "arch-missing", "gpu:1 is NVIDIA A100-SXM4-40GB, compute capability 8.0; the driver refused "
     "MXNet's kernels in the smoke check"),
    (fake_child({"index": 0, "error": "fused pointwise: MXNetError: CUDA_ERROR_UNSUPPORTED_PTX_"
                 "VERSION: the provided PTX was compiled with an unsupported toolchain."},
                exit_status=1),
     "driver-too-old", "NVIDIA driver 535.104.05 refused the PTX of MXNet's fused kernels"),
    (fake_child({"index": 0, "error": "fused LSTM: MXNetError: undefined symbol: "
                 "cudnnOpsInferVersionCheck, version libcudnn_ops_infer.so.8"},
                {"index": None, "error": None, "foreign": "libcudnn_ops_infer.so.8 was loaded from "
                 "/usr/local/cuda/lib64, not from pip's nvidia-*-cu11 packages"}, exit_status=1),
     "foreign-libraries", "libcudnn_ops_infer.so.8 was loaded from /usr/local/cuda/lib64"),
    ([sys.executable, "-c", "import os; os.abort()"], "smoke-failed",
     "the GPU smoke check's process exited -6"),
])
def test_smoke_check_verdicts_from_a_fake_child(child, code, says):
    from shim import gpu

    report = preflight([0, 1], "0, 535.104.05, Disabled\n1, 535.104.05, Disabled")
    assert report.ok
    verdict = gpu.smoke_check(report, env={}, command=child)
    if code is None:
        assert verdict is None
        gpu.check([0, 1], lib_path=FIXTURE, features=CUDA_ON, smi_text=TWO_A100, env={},
                  smoke_env={}, smoke=child)
        return
    assert verdict.code == code and says in verdict.message and "\n" not in verdict.message
    with pytest.raises(gpu.PreflightError, match="^" + re.escape(verdict.message) + "$"):
        gpu.check([0, 1], lib_path=FIXTURE, features=CUDA_ON, smi_text=TWO_A100, env={},
                  driver_text="0, 535.104.05, Disabled\n1, 535.104.05, Disabled",
                  smoke_env={}, smoke=child)


def test_the_smoke_child_gets_the_cells_environment_and_pci_numbering():
    from shim import gpu

    report = preflight([0], "0, 535.104.05, Disabled")
    echo = [sys.executable, "-c", "import json, os; print(json.dumps({'index': 0, 'error': "
            "os.environ.get('CUDA_DEVICE_ORDER') + ' ' + os.environ.get('MXNET_X', '')}))"]
    verdict = gpu.smoke_check(report, env={"MXNET_X": "from-the-cell", "PATH": os.environ["PATH"]},
                              command=echo)
    assert verdict.message.endswith("gpu:0: PCI_BUS_ID from-the-cell")


def test_a_hung_smoke_check_is_a_failure_not_a_hang():
    from shim import gpu

    report = preflight([0], "0, 535.104.05, Disabled")
    verdict = gpu.smoke_check(report, env={}, command=fake_child(*PASSED, sleep=30), timeout_s=1)
    assert verdict.code == gpu.SMOKE_FAILED and "did not finish in 1 s" in verdict.message


def test_error_line_picks_the_telling_line_of_an_mxnet_error():
    from shim.gpu import smoke

    error = RuntimeError("MXNetError: Traceback (most recent call last):\n"
                         "  [bt] (0) /x/libmxnet.so(+0x1) [0x7f]\n"
                         "  File \"src/operator/fusion/fused_op.cu\", line 644\n"
                         "MXNetError: Check failed: err == CUDA_SUCCESS: CUDA_ERROR_UNSUPPORTED_PTX_VERSION\n")
    assert smoke._error_line(error) == ("MXNetError: Check failed: err == CUDA_SUCCESS: "
                                        "CUDA_ERROR_UNSUPPORTED_PTX_VERSION")
