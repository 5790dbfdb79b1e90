"""bench.py as a user meets it: bad flags, a crashing cell, a killed sweep resumed."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import bench
from report import storage
from sweep import environment
from sweep import process
from sweep import rows as sweep_rows
from tests.helpers import read_csv

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--scenario", "lenet", "--data", "synthetic", "--max-samples", "128", "--epochs", "2",
         "--quiet"]


def run_bench(*args, timeout=300):
    return subprocess.run([sys.executable, "bench.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("cores, ctx, workers, threads", [
    (2, "cpu", 1, 2),        # one context in one process: every core
    (2, "cpu:0-1", 1, 1),    # two CPU engine threads at once: a core each
    (2, "cpu", 2, 1),        # two parameter-server workers on this machine
    (8, "cpu:0-3", 1, 2),
    (8, "cpu:0-1", 2, 2),
    (2, "cpu:0-3", 1, 1),    # never below one
    (16, "gpu:0-7", 1, 16),  # GPU contexts run their kernels on the GPUs
])
def test_openmp_threads_share_the_cores_among_what_runs_at_once(monkeypatch, cores, ctx,
                                                               workers, threads):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cell = {"ctx": ctx, "workers": workers}
    assert environment.cell_environment(cell)["OMP_NUM_THREADS"] == str(threads)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")   # the user's own setting wins
    assert environment.cell_environment(cell)["OMP_NUM_THREADS"] == "3"


def test_git_commit_says_when_the_code_that_ran_is_not_the_commit(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    assert sweep_rows.git_commit(tmp_path) == ""          # not a checkout
    git("init", "-q")
    (tmp_path / "model.py").write_text("a = 1\n")
    git("add", "model.py")
    git("commit", "-q", "-m", "one")
    clean = sweep_rows.git_commit(tmp_path)
    assert clean and not clean.endswith("-dirty")
    (tmp_path / "notes.txt").write_text("untracked files do not count\n")
    assert sweep_rows.git_commit(tmp_path) == clean
    (tmp_path / "model.py").write_text("a = 2\n")
    assert sweep_rows.git_commit(tmp_path) == clean + "-dirty"


@pytest.mark.slow
@pytest.mark.parametrize("args, says", [
    (["--ctx", "gpu:7-0"], "runs backwards"),
    (["--ctx", "tpu:0"], "unknown device kind 'tpu'"),
    (["--batch-sizes", "64,0"], "'64,0' is not a comma-separated list of positive integers"),
    (["--epochs", "1"], "need at least 2"),
    (["--ctx", "cpu:0-2", "--batch-sizes", "64"], "must split evenly over the 3 contexts"),
    (["--impl", "keras,mx"], "'mx' is not one of keras, keras-graph, gluon, torch"),
    (["--scenario", "resnet"], "'resnet' is not one of lenet, rnn"),
    (["--data", "fake"], "invalid choice: 'fake'"),
    (["--impl", "torch", "--ctx", "cpu:0-1"], "one CPU context only"),
    (["--data-dir", "/nonexistent/data"], "/nonexistent/data"),
    (["--kvstore", "dist_sync", "--workers", "3", "--batch-sizes", "64"],
     "split evenly over 3 workers x 1 contexts"),
    (["--kvstore", "dist_async"], "invalid choice: 'dist_async'"),
    (["--dtype", "float16"], "invalid choice: 'float16'"),
    (["--dtype", "bfloat16", "--ctx", "gpu:0"], "--dtype bfloat16 runs on CPU contexts only"),
    (["--repeat", "0"], "argument --rounds/--repeat: '0' is not a positive integer"),
    (["--max-samples", "0"], "argument --max-samples: '0' is not a positive integer"),
    (["--cell-timeout", "0"], "argument --cell-timeout: '0' is not a positive integer"),
    (["--kvstore", "dist_sync", "--workers", "0"],
     "argument --workers: '0' is not a positive integer"),
])
def test_bad_input_is_one_line_and_exit_status_2(args, says, tmp_path):
    out = tmp_path / "out"
    done = run_bench(*args, "--out", str(out), timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in done.stderr
    assert not out.exists()  # a refused command creates no results folder


@pytest.mark.slow
def test_a_cell_that_kills_itself_fails_alone(tmp_path, monkeypatch, project_importable):
    # The Keras cell's process kills itself; the sweep records it and measures Gluon anyway.
    dying = tmp_path / "dying_harness.py"
    dying.write_text(
        "import json, os, signal, sys, runpy\n"
        "if json.loads(sys.argv[1])['impl'] == 'keras':\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "runpy.run_module('cell', run_name='__main__', alter_sys=True)\n")
    monkeypatch.setattr(process, "HARNESS", [sys.executable, str(dying)])
    out = tmp_path / "out"
    # by rounds, each cell a process alone (by turns a crash ends the round: test_turns_sweep.py)
    assert bench.main(QUICK + ["--impl", "keras,gluon", "--batch-sizes", "64", "--method",
                               "rounds", "--out", str(out)]) == 0
    rows = {r["impl"]: r for r in read_csv(out / "runs.csv")}
    assert rows["keras"]["status"] == "failed" and "SIGKILL" in rows["keras"]["reason"]
    assert rows["gluon"]["status"] == "ok" and float(rows["gluon"]["samples_per_s"]) > 0
    assert "gluon" in (out / "summary.md").read_text().lower()


@pytest.mark.slow
def test_a_killed_sweep_resumes_without_losing_or_repeating_cells(tmp_path):
    out = tmp_path / "out"
    args = QUICK + ["--impl", "gluon", "--batch-sizes", "16,32,64", "--out", str(out)]
    sweep = subprocess.Popen([sys.executable, "bench.py", *args], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    csv_path = out / "runs.csv"
    deadline = time.time() + 240
    while time.time() < deadline and not (csv_path.exists() and len(read_csv(csv_path)) >= 1):
        time.sleep(0.2)
    os.killpg(sweep.pid, signal.SIGKILL)  # the driver and the cell in flight
    sweep.wait()
    before = read_csv(csv_path)
    assert 1 <= len(before) < 3, "the sweep should have been killed mid-way"

    done = run_bench(*args, "--resume")
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} of 3 cells already in" in done.stdout
    after = read_csv(csv_path)
    assert after[:len(before)] == before  # nothing measured was lost or rewritten
    assert sorted(int(r["batch_size"]) for r in after) == [16, 32, 64]
    assert all(r["status"] == "ok" for r in after)
    assert len(storage.done_keys(csv_path)) == 3


@pytest.mark.slow
def test_a_terminated_sweep_stops_the_cell_in_flight(tmp_path):
    # `kill <bench.py>` signals the driver alone; its cell must not live on, eating the cores
    # the next benchmark will time.
    pid_file = tmp_path / "cell.pid"
    hanging = tmp_path / "hanging_harness.py"
    hanging.write_text("import os, pathlib, time\n"
                       f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
                       "time.sleep(600)\n")
    driver = (f"import sys, bench; from sweep import process; process.HARNESS = [sys.executable, {str(hanging)!r}]; "
              f"sys.exit(bench.main(sys.argv[1:]))")
    sweep = subprocess.Popen([sys.executable, "-c", driver, *QUICK, "--impl", "gluon",
                              "--batch-sizes", "64", "--out", str(tmp_path / "out")],
                             cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (pid_file.exists() and pid_file.read_text()):
        time.sleep(0.1)
    cell = int(pid_file.read_text())
    sweep.send_signal(signal.SIGTERM)
    assert sweep.wait(timeout=30) == 143
    assert sweep.stderr.read().strip().splitlines()[-1] == (
        "bench.py: terminated; finished cells are in runs.csv (use --resume)")
    with pytest.raises(ProcessLookupError):
        os.kill(cell, 0)


@pytest.mark.slow
def test_every_implementation_runs_with_the_same_recorded_process_settings(tmp_path, monkeypatch,
                                                                           project_importable):
    # Each cell's process writes the environment it got, then runs the real harness: the
    # settings are bench.py's, the same for Keras and Gluon, and runs.csv records them.
    spying = tmp_path / "spying_harness.py"
    spying.write_text(
        "import json, os, sys, runpy\n"
        "impl = json.loads(sys.argv[1])['impl']\n"
        f"open(os.path.join({str(tmp_path)!r}, impl + '.env.json'), 'w')"
        ".write(json.dumps(dict(os.environ)))\n"
        "runpy.run_module('cell', run_name='__main__', alter_sys=True)\n")
    monkeypatch.setattr(process, "HARNESS", [sys.executable, str(spying)])
    for name in list(os.environ):  # this machine's own speed settings (e.g. OPENBLAS_*) out
        if name.startswith(environment.SPEED_VARIABLE_PREFIXES + ("CUDA_",)):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KMP_BLOCKTIME", "7")  # an inherited speed setting is recorded too
    out = tmp_path / "out"
    assert bench.main(QUICK + ["--impl", "keras,gluon", "--batch-sizes", "64",
                               "--out", str(out)]) == 0
    rows = {r["impl"]: r for r in read_csv(out / "runs.csv")}
    seen = {impl: json.loads((tmp_path / f"{impl}.env.json").read_text())
            for impl in ("keras", "gluon")}
    expected = {"MXNET_CUDNN_AUTOTUNE_DEFAULT": "1", "MXNET_SUBGRAPH_VERBOSE": "0",
                "PYTHONUNBUFFERED": "1", "KMP_BLOCKTIME": "7",
                "OMP_NUM_THREADS": str(os.cpu_count()),  # one CPU context: every core
                "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    for impl in ("keras", "gluon"):
        assert rows[impl]["status"] == "ok", rows[impl]["reason"]
        got = {k: v for k, v in seen[impl].items()
               if k in expected or k.startswith(("MXNET_", "OMP_", "KMP_", "CUDA_"))}
        assert got == expected, impl
        assert rows[impl]["process_env"] == " ".join(f"{k}={v}" for k, v in sorted(expected.items()))
        assert rows[impl]["omp_threads"] == seen[impl]["OMP_NUM_THREADS"]


def pid_writing_harness(tmp_path, then):
    """A harness that writes its pid to <tmp>/cell.pid, then `then` (Python source)."""
    pid_file = tmp_path / "cell.pid"
    harness_file = tmp_path / "pid_harness.py"
    harness_file.write_text("import os, pathlib, runpy, sys, time\n"
                            f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\n"
                            + then)
    return harness_file, pid_file


def assert_gone(pid):
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.slow
def test_cell_timeout_stops_an_ordinary_cell_and_marks_it_failed(tmp_path, monkeypatch,
                                                                  project_importable):
    # A real Gluon cell (the real harness) that needs far longer than --cell-timeout.
    harness_file, pid_file = pid_writing_harness(
        tmp_path, "runpy.run_module('cell', run_name='__main__', alter_sys=True)\n")
    monkeypatch.setattr(process, "HARNESS", [sys.executable, str(harness_file)])
    out = tmp_path / "out"
    started = time.monotonic()
    assert bench.main(["--scenario", "lenet", "--impl", "gluon", "--data", "synthetic",
                       "--max-samples", "4096", "--epochs", "200", "--batch-sizes", "64",
                       "--cell-timeout", "3", "--quiet", "--out", str(out)]) == 0
    assert time.monotonic() - started < 60
    [row] = read_csv(out / "runs.csv")
    assert row["status"] == "failed" and row["reason"].startswith("timed out after 3 s (log: ")
    assert_gone(int(pid_file.read_text()))


@pytest.mark.slow
def test_ctrl_c_exits_130_and_stops_the_cell_in_flight(tmp_path):
    harness_file, pid_file = pid_writing_harness(tmp_path, "time.sleep(600)\n")
    # Ctrl-C as at a terminal: a process started in the background by a non-interactive shell
    # (as some CI runners start the suite) inherits SIGINT ignored, and Python keeps it so.
    driver = ("import signal, sys, bench; from sweep import process; "
              "signal.signal(signal.SIGINT, signal.default_int_handler); "
              f"process.HARNESS = [sys.executable, {str(harness_file)!r}]; "
              "sys.exit(bench.main(sys.argv[1:]))")
    sweep = subprocess.Popen([sys.executable, "-c", driver, *QUICK, "--impl", "gluon",
                              "--batch-sizes", "64", "--out", str(tmp_path / "out")],
                             cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (pid_file.exists() and pid_file.read_text()):
        time.sleep(0.1)
    cell = int(pid_file.read_text())
    sweep.send_signal(signal.SIGINT)  # what Ctrl-C sends the driver
    assert sweep.wait(timeout=30) == 130
    assert sweep.stderr.read().strip().splitlines()[-1] == (
        "bench.py: interrupted; finished cells are in runs.csv (use --resume)")
    assert_gone(cell)
