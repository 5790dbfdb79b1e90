"""GPU preflight (shim/gpu/) without a GPU: every verdict from fixture data
built here (a fake ELF with a .nv_fatbin section, fake nvidia-smi answers), plus
the real CPU build installed in this venv and the real MXNet fatbin fixture."""
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from shim import gpu
from shim.gpu import elf, fatbin

ROOT = Path(__file__).resolve().parents[1]

CUDA_ON = {"CUDA": True, "CUDNN": True, "NCCL": True, "version": "1.9.1", "reason": None}
CPU_BUILD = {"CUDA": False, "CUDNN": False, "NCCL": False, "version": "1.9.1", "reason": None}
NO_MXNET = {"CUDA": None, "CUDNN": None, "NCCL": None, "version": None,
            "reason": "mxnet not importable: No module named 'mxnet'"}

H100 = "0, NVIDIA H100 80GB HBM3, 9.0, 81559, GPU-11111111-aaaa"
RTX3090 = "0, NVIDIA GeForce RTX 3090, 8.6, 24576, GPU-22222222-bbbb"
A100 = "0, NVIDIA A100-SXM4-40GB, 8.0, 40960, GPU-33333333-cccc"
L4 = "0, NVIDIA L4, 8.9, 23034, GPU-44444444-dddd"
TWO_A100 = A100 + "\n1, NVIDIA A100-SXM4-40GB, 8.0, 40960, GPU-55555555-eeee\n"
FIXTURE = ROOT / "tests" / "fixtures" / "mxnet_cu112_one_kernel.fatbin"


# ---------------------------------------------------------------- fixture data

def fatbin_container(entries):
    """A fatbin container: [(kind, arch)], kind 1 = PTX, 2 = SASS (ELF)."""
    body = b""
    for kind, arch in entries:
        payload = (b"\x7fELF" if kind == 2 else b".version 7.0") + b"\0" * 20
        payload += b"\0" * (-len(payload) % 8)
        head = struct.pack("<HHIQ", kind, 0x0101, 64, len(payload))
        head += struct.pack("<IIHHI", len(payload), 0, 7, 1, arch)  # sizes, code version 1.7, arch
        head += b"\0" * (64 - len(head))
        body += head + payload
    return struct.pack("<IHHQ", fatbin.FATBIN_MAGIC, 1, 16, len(body)) + body


def elf_with_sections(sections):
    """A minimal ELF64 shared object holding the given {name: bytes} sections."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n in sections) + b".shstrtab\0"
    data, headers, offset = b"", [b"\0" * 64], 64
    for name, blob in list(sections.items()) + [(".shstrtab", names)]:
        blob += b"\0" * (-len(blob) % 8)
        kind = 3 if name == ".shstrtab" else 1  # STRTAB / PROGBITS
        headers.append(struct.pack("<IIQQQQIIQQ", names.index(name.encode() + b"\0"), kind,
                                   2, 0, offset + len(data), len(blob), 0, 0, 8, 0))
        data += blob
    shoff = 64 + len(data)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, shoff, 0, 64, 0, 0,
                               64, len(headers), len(headers) - 1)
    return ehdr + data + b"".join(headers)


@pytest.fixture
def lib(tmp_path):
    """Write a fake libmxnet.so: lib(containers) -> path; containers=None: no .nv_fatbin."""
    def make(containers=None, name="libmxnet.so"):
        sections = {".text": b"\x90" * 16}
        if containers is not None:
            sections[".nv_fatbin"] = b"".join(
                c + b"\0" * (-len(c) % 8) for c in map(fatbin_container, containers))
        path = tmp_path / name
        path.write_bytes(elf_with_sections(sections))
        return str(path)
    return make


PUBLISHED = [[(2, 50), (2, 60), (2, 70), (2, 80), (2, 86)]] * 3  # like mxnet-cu112 1.9.1
SM52_SM86 = [[(2, 52), (2, 86)]]
SM52_SM86_PTX = [[(2, 52), (2, 86), (1, 52)]]


def run(requested, lib_path, smi_text, features=CUDA_ON, env=None):
    return gpu.preflight(requested, lib_path=lib_path, features=features,
                         smi_text=smi_text, env=env or {})


# ---------------------------------------------------------------- fatbin reading

def test_fatbin_archs_from_fake_elf(lib):
    assert gpu.fatbin_archs(lib(SM52_SM86_PTX)) == (["sm_52", "sm_86"], ["compute_52"])
    info = gpu.fatbin_info(lib(PUBLISHED))
    assert (info.sass, info.ptx, info.containers) == (
        ["sm_50", "sm_60", "sm_70", "sm_80", "sm_86"], [], 3)


def test_elf_without_fatbin_section_is_cpu_build(lib):
    assert gpu.fatbin_archs(lib(None)) == ([], [])


def test_raw_fatbin_file_and_garbage(tmp_path):
    raw = tmp_path / "k.fatbin"
    raw.write_bytes(fatbin_container([(2, 86), (2, 80)]))
    assert gpu.fatbin_archs(str(raw)) == (["sm_80", "sm_86"], [])
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a binary")
    with pytest.raises(ValueError):
        gpu.fatbin_archs(str(junk))


def test_an_elf_file_without_pyelftools_is_one_line_not_a_crash(lib, monkeypatch):
    monkeypatch.setattr(elf, "ELFFile", None)   # a bare machine: raw fatbins only
    with pytest.raises(ValueError, match=r"needs pyelftools \(pip install pyelftools=="):
        gpu.fatbin_archs(lib(SM52_SM86))
    report = run([0], lib(SM52_SM86), RTX3090)
    assert report.fatbin is None and "needs pyelftools" in report.lib_reason


def test_a_truncated_elf_file_is_one_line_not_a_crash(lib, tmp_path):
    cut = tmp_path / "cut.so"
    cut.write_bytes(Path(lib(SM52_SM86)).read_bytes()[:80])
    report = run([0], str(cut), RTX3090)
    assert report.fatbin is None and report.lib_reason.startswith(f"cannot read {cut}: ")


def test_real_mxnet_fixture_is_sm50_to_sm86_without_ptx():
    # One container cut from mxnet-cu112 1.9.1's libmxnet.so (see tests/fixtures/README.md).
    info = gpu.fatbin_info(str(FIXTURE))
    assert (info.sass, info.ptx, info.containers) == (
        ["sm_50", "sm_60", "sm_70", "sm_80", "sm_86"], [], 1)
    assert FIXTURE.stat().st_size < 1_000_000


# ---------------------------------------------------------------- compatibility rules

@pytest.mark.parametrize("cc, archs, expected", [
    ("9.0", ["sm_50", "sm_60", "sm_70", "sm_80", "sm_86"], None),  # Hopper: no 9.x SASS, no PTX
    ("8.9", ["sm_50", "sm_60", "sm_70", "sm_80", "sm_86"], "sm_86"),  # Ada runs 8.6 SASS
    ("8.0", ["sm_52", "sm_86"], None),  # SASS never runs on a lower minor
    ("8.6", ["sm_52", "sm_86"], "sm_86"),
    ("5.3", ["sm_52", "sm_86"], "sm_52"),
    ("9.0", ["sm_52", "sm_86", "compute_52"], "compute_52"),  # PTX JITs forward
    ("8.0", ["sm_80", "compute_90"], "sm_80"),
    ("7.5", ["compute_80"], None),  # PTX does not run backwards
])
def test_runnable(cc, archs, expected):
    assert gpu.runnable(cc, archs) == expected


def test_runs_on_text():
    assert gpu.runs_on(["sm_50", "sm_60", "sm_70", "sm_80", "sm_86"], []) == "5.0-8.9"
    assert gpu.runs_on(["sm_52", "sm_86"], ["compute_52"]) == "5.2-5.3, 8.6-8.9, any >= 5.2 via PTX JIT"


# ---------------------------------------------------------------- driver answers

def test_parse_driver_answer():
    gpus, reason = gpu.driver_gpus(text=TWO_A100, env={})
    assert reason is None
    assert gpus[1][:4] == (1, "NVIDIA A100-SXM4-40GB", "8.0", 40960)


def test_cuda_visible_devices_renumbers():
    gpus, _ = gpu.driver_gpus(text=TWO_A100, env={"CUDA_VISIBLE_DEVICES": "1"})
    assert [(g.index, g.driver_index) for g in gpus] == [(0, 1)]
    gpus, _ = gpu.driver_gpus(text=TWO_A100, env={"CUDA_VISIBLE_DEVICES": "GPU-5555,0"})
    assert [(g.index, g.driver_index) for g in gpus] == [(0, 1), (1, 0)]
    gpus, reason = gpu.driver_gpus(text=TWO_A100, env={"CUDA_VISIBLE_DEVICES": ""})
    assert gpus == [] and "CUDA_VISIBLE_DEVICES" in reason


def fake_smi(tmp_path, body):
    path = tmp_path / "nvidia-smi"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_fake_nvidia_smi_and_missing_driver(tmp_path):
    ok = fake_smi(tmp_path, f"echo '{H100}'")
    assert gpu.driver_gpus(ok, env={})[0][0].compute_capability == "9.0"
    broken = fake_smi(tmp_path, "echo 'NVIDIA-SMI has failed because it couldn''t communicate "
                                "with the NVIDIA driver.'; exit 9")
    gpus, reason = gpu.driver_gpus(broken, env={})
    assert gpus == [] and "exit 9" in reason and "NVIDIA driver" in reason
    gpus, reason = gpu.driver_gpus(str(tmp_path / "absent-nvidia-smi"), env={})
    assert gpus == [] and "not found" in reason


def test_old_driver_without_compute_cap_field(tmp_path, lib):
    smi = fake_smi(tmp_path, 'case "$1" in *compute_cap*) echo \'Field "compute_cap" is not a valid '
                             'field to query.\'; exit 2;; esac; echo "0, Tesla V100-SXM2-16GB, 16160, GPU-9"')
    gpus, reason = gpu.driver_gpus(smi, env={})
    assert reason is None and gpus[0][:4] == (0, "Tesla V100-SXM2-16GB", "?", 16160)
    report = gpu.preflight([0], lib_path=lib(PUBLISHED), features=CUDA_ON, nvidia_smi=smi, env={})
    assert report.ok  # unknown cc: no arch verdict possible, MXNet will tell


# ---------------------------------------------------------------- verdicts

def test_ok_on_rtx3090_l4_and_two_a100(lib):
    assert run([0], lib(SM52_SM86), RTX3090).ok
    report = run([0], lib(PUBLISHED), L4)
    assert report.ok and report.verdict(0).arch == "sm_86"
    assert gpu.check([0, 1], lib_path=lib(PUBLISHED), features=CUDA_ON, smi_text=TWO_A100, env={}).ok


def test_arch_missing_on_h100_with_published_build(lib):
    v = run([0], lib(PUBLISHED), H100).verdict(0)
    assert v.code == gpu.ARCH_MISSING
    assert v.message.startswith("gpu:0 is NVIDIA H100 80GB HBM3, compute capability 9.0; "
                                "this libmxnet.so has SASS for sm_50,sm_60,sm_70,sm_80,sm_86 "
                                "and no PTX, so no kernel can run on it")
    assert "compute capability 5.0-8.9" in v.message and "\n" not in v.message
    with pytest.raises(gpu.PreflightError, match="compute capability 9.0"):
        gpu.check([0], lib_path=lib(PUBLISHED), features=CUDA_ON, smi_text=H100, env={})


def test_arch_missing_on_a100_when_only_sm52_sm86(lib):
    # sm_86 SASS needs minor >= 6, sm_52 is another major: nothing for 8.0.
    assert run([0], lib(SM52_SM86), A100).verdict(0).code == gpu.ARCH_MISSING
    assert run([0], lib(SM52_SM86), L4).ok


def test_ptx_makes_h100_usable_through_jit(lib):
    v = run([0], lib(SM52_SM86_PTX), H100).verdict(0)
    assert v.ok and v.arch == "compute_52" and "PTX JIT" in v.message


def test_every_container_needs_an_image(lib):
    # One .cu file compiled for sm_90 too does not make the whole build Hopper-ready.
    mixed = [[(2, 80), (2, 90)], [(2, 80)]]
    v = run([0], lib(mixed), H100).verdict(0)
    assert v.code == gpu.ARCH_MISSING and "for some of its kernels" in v.message


def test_cpu_only_build(lib):
    v = run([0], lib(None), H100, features=CPU_BUILD).verdict(0)
    assert (v.code, v.message) == (gpu.CPU_ONLY, "this mxnet build has no CUDA; "
                                   "run make setup-gpu or use --ctx cpu")


def test_no_driver(lib):
    report = gpu.preflight([0], lib_path=lib(PUBLISHED), features=CUDA_ON,
                           nvidia_smi="/nonexistent/nvidia-smi", env={})
    assert report.verdict(0).code == gpu.NO_DRIVER and "not found" in report.verdict(0).message


def test_gpu_index_that_does_not_exist(lib):
    with pytest.raises(gpu.PreflightError) as err:
        gpu.check([5], lib_path=lib(PUBLISHED), features=CUDA_ON, smi_text=TWO_A100, env={})
    assert str(err.value) == "gpu:5 requested, this machine has gpu:0-1"


def test_mxnet_not_importable_still_reads_driver_and_archs(lib):
    # The Hopper check: no mxnet, archs from the fixture -> the arch verdict wins.
    report = run([0], str(FIXTURE), H100, features=NO_MXNET)
    assert report.verdict(0).code == gpu.ARCH_MISSING and report.gpus[0].name.endswith("HBM3")
    # On a GPU the build would run on, the remaining problem is mxnet itself.
    v = run([0], str(FIXTURE), A100, features=NO_MXNET).verdict(0)
    assert v.code == gpu.NO_MXNET and v.message.startswith("mxnet not importable")
    assert "mxnet not importable" in gpu.format_report(run([], None, A100, features=NO_MXNET))


def test_report_only_and_table(lib):
    report = run([], lib(PUBLISHED), H100 + "\n" + RTX3090.replace("0,", "1,", 1))
    assert report.ok  # nothing requested: nothing can fail
    text = gpu.format_report(report)
    for needle in ("CUDA on", "sm_50 sm_60 sm_70 sm_80 sm_86", "5.0-8.9", "NVIDIA H100 80GB HBM3",
                   "9.0", "81559", "arch-missing", "ok"):
        assert needle in text


# ---------------------------------------------------------------- the real installed build

def test_real_cpu_build_asking_for_gpu0_exits_2(capsys):
    path = gpu.libmxnet_path()
    assert path and path.endswith("libmxnet.so")
    assert gpu.fatbin_archs(path) == ([], [])  # no .nv_fatbin in the CPU wheel
    assert gpu.main(["--gpus", "0"]) == 2
    out, err = capsys.readouterr()
    assert err.strip() == "preflight: this mxnet build has no CUDA; run make setup-gpu or use --ctx cpu"
    assert "CUDA off" in out and "Traceback" not in out + err


def test_mxnet_library_path_env_wins(monkeypatch):
    monkeypatch.setenv("MXNET_LIBRARY_PATH", str(FIXTURE))
    assert gpu.libmxnet_path() == str(FIXTURE)
    monkeypatch.setenv("MXNET_LIBRARY_PATH", "relative/ignored.so")  # mxnet ignores it too
    assert gpu.libmxnet_path() != "relative/ignored.so"


def test_module_runs_without_mxnet_or_tabulate(tmp_path):
    """What lab/hopper_check.sh does: a python without mxnet, CLI on the fixture."""
    smi = fake_smi(tmp_path, f"echo '{H100}'")
    # Run from shim/, the package is `gpu`, imported without shim/__init__.py.
    code = ("import sys; sys.modules['mxnet'] = None; sys.modules['tabulate'] = None; "
            "sys.modules['elftools'] = None; import gpu; "
            f"sys.exit(gpu.main(['--gpus', '0', '--lib', {str(FIXTURE)!r}, '--nvidia-smi', {smi!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "shim", capture_output=True,
                          text=True)
    assert proc.returncode == 2, proc.stderr
    assert "mxnet not importable" in proc.stdout and "NVIDIA H100 80GB HBM3" in proc.stdout
    assert "no kernel can run on it" in proc.stderr and "Traceback" not in proc.stderr


def test_cuda_loader_fails_cleanly_without_libcuda():
    proc = subprocess.run([sys.executable, "-m", "tests.programs.cuda_load_fatbin", str(FIXTURE)],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "LD_LIBRARY_PATH": ""})
    if proc.returncode != 3:
        pytest.skip("this machine has an NVIDIA driver")
    assert "libcuda not found" in proc.stdout and "sm_50,sm_60,sm_70,sm_80,sm_86" in proc.stdout


# ---------------------------------------------------------------- CUDA library preloading

def test_find_cuda_libs_in_dependency_order(tmp_path):
    for folder, soname in reversed(gpu.CUDA11_LIBS):
        (tmp_path / "nvidia" / folder / "lib").mkdir(parents=True, exist_ok=True)
        (tmp_path / "nvidia" / folder / "lib" / soname).write_bytes(b"")
    found = [os.path.basename(p) for p in gpu.find_cuda_libs([str(tmp_path)])]
    assert found == [s for _, s in gpu.CUDA11_LIBS]
    assert found.index("libcublasLt.so.11") < found.index("libcublas.so.11") < found.index("libcudnn.so.8")
    assert gpu.find_cuda_libs([str(tmp_path / "empty")]) == []


PRELOAD = """
import json, sys, warnings
from shim import gpu
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    first = gpu.add_cuda_library_paths([{libs!r}])
again = gpu.add_cuda_library_paths([{empty!r}])
mapped = sorted({{line.split()[-1] for line in open("/proc/self/maps") if "/" in line}})
print(json.dumps(dict(first=first, again=again, mapped=mapped,
                      warnings=[str(w.message) for w in caught])))
"""


def test_add_cuda_library_paths_loads_each_library_once_in_dependency_order(tmp_path):
    # Stand-in libraries: copies of the system's zlib under the CUDA sonames (each copy is a file
    # of its own, so each is really loaded), except cuDNN, which is not a library at all.
    import ctypes.util
    import json
    import shutil

    zlib = ctypes.util.find_library("z")
    source = next((os.path.join(d, zlib) for d in ("/lib/x86_64-linux-gnu", "/usr/lib64",
                                                   "/lib64", "/usr/lib", "/lib")
                   if zlib and os.path.isfile(os.path.join(d, zlib))), None)
    if source is None:
        pytest.skip("no zlib shared library to stand in for the CUDA ones")
    libs = tmp_path / "site"
    expected = []
    for folder, soname in gpu.CUDA11_LIBS:
        path = libs / "nvidia" / folder / "lib" / soname
        path.parent.mkdir(parents=True, exist_ok=True)
        if soname.startswith("libcudnn"):
            path.write_bytes(b"not a library")
        else:
            shutil.copy(source, path)
            expected.append(str(path))
    done = subprocess.run([sys.executable, "-c", PRELOAD.format(
        libs=str(libs), empty=str(tmp_path / "empty"))], cwd=ROOT,
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["first"] == expected          # CUDA11_LIBS order: dependencies first
    assert result["again"] == expected          # what earlier calls loaded, nothing new
    assert set(expected) <= set(result["mapped"])  # really in the process
    assert not any("libcudnn" in m for m in result["mapped"])
    cudnn = [s for _, s in gpu.CUDA11_LIBS if s.startswith("libcudnn")]  # 6 parts + libcudnn
    assert len(result["warnings"]) == len(cudnn) >= 7
    assert all("could not preload" in w and soname in w
               for w, soname in zip(result["warnings"], cudnn))
