"""What survives a crash: a cut last row, two sweeps on one folder, a full disk, a folder that
cannot be written (report/storage/, and bench.py as a user meets it)."""
import errno
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import bench
from report import storage
from report.__main__ import main as report_main
from sweep import args as sweep_args
from sweep import folder as sweep_folder
from sweep import plan as sweep_plan
from sweep import process
from tests import helpers

ROOT = Path(__file__).resolve().parents[1]
# Two configurations x two arms: four cells of one round.
# --method rounds: the fake harnesses here time no turns (tests/test_turns_sweep.py does)
SYNTHETIC = ["--scenario", "lenet", "--impl", "keras,gluon", "--data", "synthetic",
             "--max-samples", "64", "--epochs", "3", "--batch-sizes", "32,64", "--quiet",
             "--method", "rounds"]


def fake_harness(tmp_path, gate=None):
    """A harness that trains nothing (bench.py, rows and reports are the real ones). With
    `gate`, each cell writes <gate>.<pid>.started and waits until the file `gate` exists, so a
    test can hold sweeps mid-cell without guessing at times."""
    wait = "" if gate is None else textwrap.dedent(f"""
        open({str(gate)!r} + ".%d.started" % os.getpid(), "w").close()
        while not os.path.exists({str(gate)!r}):
            time.sleep(0.05)
        """)
    return helpers.fake_harness(tmp_path, wait + textwrap.dedent("""
        base = 1.25 if cell["impl"] == "keras" else 1.0
        timed = [base, base]
        """))


def one_line(text):
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def keys(rows):
    return sorted(storage.cell_key(r) for r in rows)


@pytest.fixture
def swept(monkeypatch, tmp_path):
    """results/box/, swept by the real bench.py: four rows."""
    monkeypatch.setattr(process, "HARNESS", fake_harness(tmp_path))
    out = tmp_path / "results" / "box"
    assert bench.main(SYNTHETIC + ["--out", str(out)]) == 0
    assert len(storage.read_rows(out)) == 4
    return out


# ---- a cut last row ------------------------------------------------------------------------

@pytest.mark.slow
def test_a_row_cut_at_every_byte_offset_is_set_aside_and_nothing_earlier_is_lost(swept, capsys):
    csv_path = swept / storage.RUNS_FILE
    damaged = swept / (storage.RUNS_FILE + storage.DAMAGED_SUFFIX)
    whole = csv_path.read_bytes()
    last = whole.rindex(b"\n", 0, len(whole) - 1) + 1
    earlier = storage.read_rows(csv_path)[:-1]
    capsys.readouterr()
    for cut in range(last + 1, len(whole)):   # one byte of the last row ... all but its newline
        csv_path.write_bytes(whole[:cut])
        damaged.unlink(missing_ok=True)
        # what --resume reads (its keys, its method check) and what the report reads
        assert storage.done_keys(csv_path) == {storage.cell_key(r) for r in earlier}, cut
        assert csv_path.read_bytes() == whole[:last], cut   # the cut row is out, the rest as was
        assert keys(storage.read_machine(swept)) == keys(earlier), cut
        kept = damaged.read_bytes()
        assert kept.startswith(b"# ") and kept.endswith(b"\n" + whole[last:cut] + b"\n"), cut
        notice = one_line(capsys.readouterr().err)
        assert f"{csv_path}: line 5 was a damaged row" in notice and damaged.name in notice


def test_a_file_cut_in_its_first_write_starts_afresh(tmp_path, capsys):
    row = {"scenario": "lenet", "impl": "gluon", "ctx": "cpu", "batch_size": 64,
           "status": "failed", "reason": "killed by SIGKILL"}
    csv_path = tmp_path / storage.RUNS_FILE
    storage.append_row(csv_path, row)
    whole = csv_path.read_bytes()
    header_end = whole.index(b"\n") + 1
    for cut in (5, header_end - 1, header_end + 3):   # in the header, at its end, in the row
        csv_path.write_bytes(whole[:cut])
        assert storage.read_rows(csv_path) == []
        assert csv_path.read_bytes() == whole[:header_end if cut > header_end else 0]
        storage.append_row(csv_path, row)   # the header again where it was lost, then the row
        assert csv_path.read_bytes() == whole
        assert "line " in one_line(capsys.readouterr().err)


@pytest.mark.slow
@pytest.mark.parametrize("cut_from_end", [2, 40, 300])   # a byte, the 40 of the issue, most of it
def test_resume_measures_the_cut_cell_again_and_the_report_says_one_line(swept, monkeypatch,
                                                                        capsys, cut_from_end):
    csv_path = swept / storage.RUNS_FILE
    whole = csv_path.read_bytes()
    first_rows = whole[:whole.rindex(b"\n", 0, len(whole) - 1) + 1]
    lost = storage.read_rows(csv_path)[-1]
    csv_path.write_bytes(whole[:-cut_from_end])
    capsys.readouterr()
    # Before the fix the cut row (no method column) read as method 1 and --resume was refused.
    assert bench.main(SYNTHETIC + ["--out", str(swept), "--resume"]) == 0
    said = capsys.readouterr()
    assert "line 5 was a damaged row" in one_line(said.err)
    assert "resuming: 3 of 4 cells already in" in said.out
    after = csv_path.read_bytes()
    assert after.startswith(first_rows)   # nothing earlier lost or rewritten
    rows = storage.read_rows(csv_path)
    assert keys(rows) == keys(storage.read_rows(swept)) and len(rows) == 4
    assert storage.cell_key(rows[-1]) == storage.cell_key(lost)   # the cut cell, measured again

    csv_path.write_bytes(after[:-cut_from_end])
    assert report_main(["--results", str(swept.parent)]) == 0
    said = capsys.readouterr()
    assert "line 5 was a damaged row" in one_line(said.err)
    assert "box" in (swept.parent / "README.md").read_text()
    assert len(storage.read_rows(csv_path)) == 3


@pytest.mark.slow
def test_damage_before_the_last_row_is_refused_naming_the_line(swept, capsys):
    csv_path = swept / storage.RUNS_FILE
    lines = csv_path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2][:40] + b"\n"   # row 2 cut short, rows after it whole
    csv_path.write_bytes(b"".join(lines))
    before = csv_path.read_bytes()
    with pytest.raises(storage.ReportError, match="runs.csv:3: damaged row"):
        storage.read_rows(csv_path)
    capsys.readouterr()
    assert bench.main(SYNTHETIC + ["--out", str(swept), "--resume"]) == 2
    assert "runs.csv:3: damaged row" in one_line(capsys.readouterr().err)
    assert report_main(["--results", str(swept.parent)]) == 2
    assert "runs.csv:3: damaged row" in one_line(capsys.readouterr().err)
    with pytest.raises(storage.ReportError, match="runs.csv:3: damaged row"):
        storage.append_row(csv_path, {"scenario": "lenet"})
    assert csv_path.read_bytes() == before   # never guessed at, never mended
    assert not (swept / (storage.RUNS_FILE + storage.DAMAGED_SUFFIX)).exists()


# ---- one sweep per folder ------------------------------------------------------------------

def hold(folder):
    """Another process holding `folder` as a sweep does, until its stdin closes."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from report import storage; "
         "assert storage.claim(sys.argv[1], 'bench.py --label box') is None; "
         "print('held', flush=True); sys.stdin.read()", str(folder)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.slow
def test_a_busy_folder_is_refused_and_the_report_reads_the_rows_so_far(swept, capsys):
    csv_path = swept / storage.RUNS_FILE
    holder = hold(swept)
    try:
        capsys.readouterr()
        for flags in ([], ["--resume"]):
            assert bench.main(SYNTHETIC + ["--out", str(swept)] + flags) == 2
            error = one_line(capsys.readouterr().err)
            assert f"{swept} is in use by a running sweep (pid {holder.pid}: bench.py --label " \
                   "box)" in error
        # a last row being written by the running sweep is not the reader's to move
        whole = csv_path.read_bytes()
        csv_path.write_bytes(whole[:-10])
        assert report_main(["--results", str(swept.parent)]) == 0
        said = capsys.readouterr()
        assert f"box: a sweep is running (pid {holder.pid}" in said.out
        assert csv_path.read_bytes() == whole[:-10]
        assert not (swept / (storage.RUNS_FILE + storage.DAMAGED_SUFFIX)).exists()
        assert len(storage.read_rows(csv_path)) == 3
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    # the sweep gone (its lock with it), the next reader sets the cut row aside
    assert len(storage.read_rows(csv_path)) == 3
    assert (swept / (storage.RUNS_FILE + storage.DAMAGED_SUFFIX)).exists()
    assert storage.running(swept) is None


def start_sweep(tmp_path, harness, *args):
    driver = ("import sys, pathlib, bench; from sweep import folder, process; "
              f"process.HARNESS = {harness!r}; "
              f"folder.RESULTS = pathlib.Path({str(tmp_path / 'results')!r}); "
              "folder.default_label = lambda: 'box'; sys.exit(bench.main(sys.argv[1:]))")
    return subprocess.Popen([sys.executable, "-c", driver, *SYNTHETIC, *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, what, limit=240):
    deadline = time.monotonic() + limit   # a bound on a hang, not a timing assertion
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.slow
def test_two_sweeps_started_together_on_one_folder(tmp_path):
    gate = tmp_path / "gate"
    harness = fake_harness(tmp_path, gate=gate)
    out = tmp_path / "results" / "box"
    sweeps = [start_sweep(tmp_path, harness, "--out", str(out)) for _ in range(2)]
    try:
        # The winner waits at the gate in its first cell; the other must give up meanwhile.
        wait_for(lambda: any(s.poll() is not None for s in sweeps), "neither sweep was refused")
    finally:
        gate.touch()
    for s in sweeps:
        s.wait(timeout=240)
    loser, winner = sorted(sweeps, key=lambda s: -s.returncode)
    assert (loser.returncode, winner.returncode) == (2, 0), winner.stderr.read()
    error = one_line(loser.stderr.read())
    assert f"is in use by a running sweep (pid {winner.pid}: bench.py --scenario lenet" in error
    rows = storage.read_rows(out)
    assert len(rows) == 4 and len(set(keys(rows))) == 4   # one sweep's cells, once each


@pytest.mark.slow
def test_two_sweeps_started_together_on_one_default_label_get_two_folders(tmp_path):
    gate = tmp_path / "gate"
    harness = fake_harness(tmp_path, gate=gate)
    sweeps = [start_sweep(tmp_path, harness) for _ in range(2)]
    try:
        # Both in a cell at once: each has chosen its folder and holds it.
        wait_for(lambda: len(list(tmp_path.glob("gate.*.started"))) >= 2 or
                 any(s.poll() is not None for s in sweeps), "the sweeps never ran together")
        assert all(s.poll() is None for s in sweeps)
    finally:
        gate.touch()
    for s in sweeps:
        assert s.wait(timeout=240) == 0, s.stderr.read()
    said = "".join(s.stdout.read() for s in sweeps)
    assert "this one writes " + str(tmp_path / "results" / "box-2") in said
    for label in ("box", "box-2"):
        rows = storage.read_rows(tmp_path / "results" / label)
        assert len(rows) == 4 and len(set(keys(rows))) == 4, label   # never two sweeps mixed
    assert not (tmp_path / "results" / "box-3").exists()


# ---- a folder that cannot be written, a full disk --------------------------------------------

def test_a_folder_that_cannot_be_created_is_refused_before_any_training(tmp_path, monkeypatch,
                                                                          capsys):
    # A path under a regular file cannot be created, even by root (as CI runs the tests).
    ran = tmp_path / "a-cell-ran"
    monkeypatch.setattr(process, "HARNESS", [sys.executable, "-c",
                                           f"open({str(ran)!r}, 'w')"])
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(sweep_folder, "RESULTS", blocker / "results")
    monkeypatch.setattr(sweep_folder, "default_label", lambda: "box")
    for flags, folder in ((["--out", str(blocker / "out")], blocker / "out"),
                          ([], blocker / "results" / "box")):
        assert bench.main(SYNTHETIC + flags) == 2
        error = one_line(capsys.readouterr().err)
        assert error == (f"bench.py: error: {folder}: cannot create or write the results folder "
                         "(Not a directory); name a writable one with --out or --label")
    assert not ran.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a read-only folder anyway; the test "
                                               "under a regular file covers root")
def test_a_read_only_folder_is_refused_before_any_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(process, "HARNESS", fake_harness(tmp_path))
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert bench.main(SYNTHETIC + ["--out", str(out)]) == 2
        assert "cannot create or write the results folder (Permission denied)" in \
            one_line(capsys.readouterr().err)
        assert not (out / storage.RUNS_FILE).exists()
    finally:
        out.chmod(0o755)


@pytest.mark.slow
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_full_disk_loses_only_the_row_being_written_and_resume_continues(tmp_path, monkeypatch,
                                                                          capsys, code):
    monkeypatch.setattr(process, "HARNESS", fake_harness(tmp_path))
    out = tmp_path / "out"
    real_write = os.write
    rows_written = []

    def full_disk(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(os.sep + storage.RUNS_FILE):
            rows_written.append(data)
            if len(rows_written) == 3:   # half the third row lands, then the disk is full
                real_write(fd, bytes(data[:len(data) // 2]))
                raise OSError(code, os.strerror(code))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    assert bench.main(SYNTHETIC + ["--out", str(out)]) == 1
    error = one_line(capsys.readouterr().err)
    rows = storage.read_rows(out)
    assert len(rows) == 2 and not (out / (storage.RUNS_FILE + storage.DAMAGED_SUFFIX)).exists()
    args = sweep_args.parser().parse_args(SYNTHETIC)
    sweep_args.validate(args)
    planned = [storage.cell_key(c) for c in sweep_plan.plan(args)]   # in the order run
    assert keys(rows) == sorted(planned[:2])
    lost = planned[2]
    scenario, arm, ctx, batch, round_number = lost[:5]
    assert error == (f"bench.py: error: {out}: the row of {scenario} {arm} {ctx} b{batch} round "
                     f"{round_number} was lost ({os.strerror(code)}); the rows before it are "
                     "whole: make room, then --resume")
    before = (out / storage.RUNS_FILE).read_bytes()

    monkeypatch.setattr(os, "write", real_write)   # space is back
    assert bench.main(SYNTHETIC + ["--out", str(out), "--resume"]) == 0
    assert (out / storage.RUNS_FILE).read_bytes().startswith(before)
    rows = storage.read_rows(out)
    assert len(rows) == 4 and len(set(keys(rows))) == 4 and lost in set(keys(rows))


@pytest.mark.slow
def test_a_summary_that_cannot_be_written_never_damages_runs_csv(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(process, "HARNESS", fake_harness(tmp_path))
    out = tmp_path / "results" / "box"
    real_replace = os.replace

    def full_disk(src, dst):
        if str(dst).endswith("summary.md"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk)
    assert bench.main(SYNTHETIC + ["--out", str(out)]) == 1
    assert "summary.md or ratios.csv could not be written (No space left on device)" in \
        one_line(capsys.readouterr().err)
    assert len(storage.read_rows(out)) == 1 and not (out / "summary.md").exists()
    assert not list(out.glob("*.writing"))
    monkeypatch.setattr(os, "replace", real_replace)
    assert bench.main(SYNTHETIC + ["--out", str(out), "--resume"]) == 0
    before = (out / storage.RUNS_FILE).read_bytes()

    import matplotlib.figure

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", no_space)
    assert report_main(["--results", str(out.parent)]) == 2
    assert "No space left on device" in one_line(capsys.readouterr().err)
    assert (out / storage.RUNS_FILE).read_bytes() == before and len(storage.read_rows(out)) == 4


def test_a_failed_append_to_operators_csv_leaves_no_part_of_it(tmp_path, monkeypatch):
    """operators.csv is appended to as runs.csv is: a write that fails (here its fsync, as on
    a full disk or EIO) is cut back, so the file keeps only its whole rows."""
    path = tmp_path / storage.OPERATORS_FILE
    cell = dict(scenario="lenet", impl="keras", ctx="cpu", batch_size=128, dtype="float32",
                round=1)
    operator = dict(operator="Convolution", calls_per_step=2.0, ms_per_step=1.5,
                    share_of_step=0.25)
    storage.append_operators(path, cell, [operator])
    before = path.read_bytes()

    def no_space(fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError):
        storage.append_operators(path, {**cell, "round": 2}, [operator])
    assert path.read_bytes() == before
    assert [r["round"] for r in storage.read_operators(tmp_path)] == [1]
