"""--threads (issue 25): OpenMP threads per context as a configuration axis beside ctx and batch.

The sweeps here run a fake harness (as tests/test_rounds.py does) that trains nothing: it
writes the environment its process got beside the sweep, and reports epoch times that are a
known function of the cell. Nothing here asserts a speed.
"""
import json
import os

import pytest

import bench
from report import ratios, storage
from sweep import args as sweep_args
from sweep import console
from sweep import environment
from sweep import plan as sweep_plan
from sweep import process
from sweep import rows as sweep_rows
from tests.helpers import fake_harness, read_csv

# --method rounds: the fake harnesses here time no turns (tests/test_turns_sweep.py does)
SYNTHETIC = ["--scenario", "lenet", "--data", "synthetic", "--max-samples", "64", "--epochs",
             "3", "--batch-sizes", "32", "--quiet", "--method", "rounds"]
# What a cell's process is told about threads; MXNet's operators, the OpenMP build of OpenBLAS
# in its wheel and torch (torch_models/train.set_threads) all take theirs from OMP_NUM_THREADS.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MXNET_CPU_WORKER_NTHREADS", "KMP_BLOCKTIME")


@pytest.fixture
def four_cores(monkeypatch):
    """A machine of 4 cores with no thread settings of its own, whatever runs the tests."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def spying_harness(tmp_path):
    """A harness that writes the thread variables its process got to
    <tmp>/env/<arm>-t<threads>-r<round>.json; Keras takes 1.25x Gluon's epoch under a thread
    count and 2x under all (+-10% in odd/even rounds), so the two settings' ratios differ."""
    (tmp_path / "env").mkdir(exist_ok=True)
    return fake_harness(tmp_path, f"""
        name = f"{{cell['arm']}}-t{{cell['threads']}}-r{{cell['round']}}".replace(":", "_")
        seen = {{k: os.environ.get(k) for k in {THREAD_VARIABLES!r}}}
        json.dump(seen, open(os.path.join({str(tmp_path / "env")!r}, name + ".json"), "w"))
        base = 1.0
        if cell["impl"].startswith("keras"):
            base = (2.0 if cell["threads"] == "all" else 1.25) * (1.1 if cell["round"] % 2 else 0.9)
        timed = [base, base]
        """, name="spying_harness.py")


def sweep(monkeypatch, tmp_path, *args):
    monkeypatch.setattr(process, "HARNESS", spying_harness(tmp_path))
    out = tmp_path / "out"
    assert bench.main(SYNTHETIC + ["--out", str(out), *args]) == 0
    return out, read_csv(out / "runs.csv")


def planned(*args):
    parsed = sweep_args.parser().parse_args(list(args))
    sweep_args.validate(parsed)
    return sweep_plan.plan(parsed)


# ---- the command line ---------------------------------------------------------------------

@pytest.mark.parametrize("value, bad", [
    ("0", "'0'"), ("-1", "'-1'"), ("5", "'5'"), ("1,8", "'8'"), ("two", "'two'"),
    ("1,auto", "'auto'"), ("²", "'²'"), ("", "''"), ("1,01", "1 twice"), ("all,all", "all twice"),
])
def test_bad_thread_settings_are_refused_in_one_line_before_any_training(
        four_cores, monkeypatch, tmp_path, capsys, value, bad):
    monkeypatch.setattr(process, "HARNESS", ["false"])   # a cell would fail: none may start
    out = tmp_path / "out"
    assert bench.main(SYNTHETIC + [f"--threads={value}", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("bench.py: error: argument --threads: ") and "\n" not in error
    assert bad in error
    if "twice" not in bad:
        assert "from 1 to this machine's 4 cores, or all" in error   # what is accepted
    assert not out.exists()


def test_thread_settings_are_counts_or_all_once_each_in_the_order_given(four_cores):
    parse = sweep_args.parser().parse_args
    assert parse([]).threads == ["all"]
    assert parse(["--threads", "all,1, 4 ,02"]).threads == ["all", "1", "4", "2"]
    assert parse(["--threads", "ALL"]).threads == ["all"]


# ---- the plan -----------------------------------------------------------------------------

@pytest.mark.parametrize("cores, ctx, workers, setting, threads", [
    (4, "cpu", 1, "all", 4),       # all: today's share, one context in one process
    (4, "cpu:0-1", 1, "all", 2),   # ... two CPU engine threads at once
    (4, "cpu", 2, "all", 2),       # ... two parameter-server workers on this machine
    (4, "cpu", 1, "1", 1),         # a count is every context's team, of every process
    (4, "cpu:0-1", 1, "1", 1),
    (4, "cpu", 2, "2", 2),
    (4, "cpu:0-1", 2, "3", 3),
    (4, "gpu:0-1", 1, "2", 2),
])
def test_a_thread_count_is_every_contexts_team_and_all_keeps_the_share(
        monkeypatch, cores, ctx, workers, setting, threads):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cell = {"ctx": ctx, "workers": workers, "threads": setting}
    assert environment.cell_environment(cell)["OMP_NUM_THREADS"] == str(threads)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")   # the user's own setting wins
    assert environment.cell_environment(cell)["OMP_NUM_THREADS"] == "3"


def test_two_thread_settings_are_two_configurations_whose_rounds_never_pair(four_cores):
    cells = planned("--scenario", "lenet,rnn", "--impl", "keras,keras-fused,gluon", "--control",
                    "--batch-sizes", "64,128", "--threads", "1,all", "--rounds", "4")
    assert len(cells) == 2 * 2 * 2 * 4 * 4
    assert {c["threads"] for c in cells} == {"1", "all"}
    rounds = {}   # (configuration, round) -> its cells in the order run
    for c in cells:
        rounds.setdefault((c["scenario"], c["batch_size"], c["threads"], c["round"]), []).append(c)
    assert len(rounds) == 2 * 2 * 2 * 4
    for group in rounds.values():   # every arm once, back to back, under one thread setting
        assert sorted(c["arm"] for c in group) == ["gluon", "gluon-control", "keras",
                                                   "keras-fused"]
        assert [c["order"] for c in group] == [1, 2, 3, 4]
        assert len({c["threads"] for c in group}) == 1
    assert len({storage.cell_key(c) for c in cells}) == len(cells)  # resume tells them apart
    # within a round, a ctx and batch's two settings run one after the other
    first = [(c["scenario"], c["batch_size"], c["threads"]) for c in cells if c["round"] == 1]
    assert first[:8] == [("lenet", 64, "1")] * 4 + [("lenet", 64, "all")] * 4


def test_all_keeps_the_shuffles_of_sweeps_from_before_threads(four_cores):
    before = planned("--impl", "keras,gluon", "--control", "--rounds", "6")
    both = planned("--impl", "keras,gluon", "--control", "--rounds", "6", "--threads", "1,all")
    arms_of = lambda cells, threads: [c["arm"] for c in cells if c["threads"] == threads]
    assert arms_of(both, "all") == arms_of(before, "all")
    assert arms_of(both, "1") != arms_of(both, "all")   # shuffled on their own


def test_log_names_and_terminal_lines_tell_thread_settings_apart(four_cores):
    cells = planned("--impl", "keras", "--batch-sizes", "64", "--scenario", "lenet",
                    "--threads", "1,2,all")
    assert [sweep_rows.cell_name(c) for c in cells] == [
        f"lenet-keras-cpu-b64-float32-w1-t{t}-r1" for t in ("1", "2", "all")]
    assert [console.cell_what(c) for c in cells] == [
        "lenet keras cpu b64 1 thread", "lenet keras cpu b64 2 threads", "lenet keras cpu b64"]


# ---- the sweep ----------------------------------------------------------------------------

@pytest.mark.slow
def test_every_arm_of_a_configuration_gets_the_same_thread_settings(four_cores, monkeypatch,
                                                                    tmp_path):
    out, rows = sweep(monkeypatch, tmp_path, "--impl", "keras,keras-graph,keras-fused,gluon,torch",
                      "--control", "--threads", "3,all", "--rounds", "2")
    assert len(rows) == 6 * 2 * 2 and all(r["status"] == "ok" for r in rows)
    seen = {}   # thread setting -> {what the cell's process got}
    for r in rows:
        name = f"{r['arm']}-t{r['threads']}-r{r['round']}".replace(":", "_")
        env = json.loads((tmp_path / "env" / f"{name}.json").read_text())
        seen.setdefault(r["threads"], set()).add(tuple(sorted(env.items())))
        assert r["omp_threads"] == env["OMP_NUM_THREADS"]   # recorded as it ran
    expected = {"3": "3", "all": "4"}   # all: one CPU context in one process
    for threads, settings in seen.items():
        (only,) = settings   # one set of thread settings for every arm and round
        assert dict(only) == dict.fromkeys(THREAD_VARIABLES, None) | {
            "OMP_NUM_THREADS": expected[threads]}


@pytest.mark.slow
def test_the_thread_setting_asked_for_lands_in_runs_csv(four_cores, monkeypatch, tmp_path):
    out, rows = sweep(monkeypatch, tmp_path, "--threads", "1,all")
    assert sorted((r["arm"], r["threads"], r["omp_threads"]) for r in rows) == [
        ("gluon", "1", "1"), ("gluon", "all", "4"), ("keras", "1", "1"), ("keras", "all", "4")]
    assert {storage.threads_of(r) for r in storage.read_rows(out)} == {"1", "all"}


@pytest.mark.slow
def test_a_users_own_omp_num_threads_wins_and_is_recorded(four_cores, monkeypatch, tmp_path,
                                                          capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    out, rows = sweep(monkeypatch, tmp_path, "--threads", "1,all")
    assert {(r["threads"], r["omp_threads"]) for r in rows} == {("1", "2"), ("all", "2")}
    said = [line for line in capsys.readouterr().out.splitlines() if "OMP_NUM_THREADS" in line]
    assert said == ["note: OMP_NUM_THREADS=2 in the environment overrides --threads 1,all: every "
                    "cell runs with 2 (runs.csv: omp_threads), under the setting asked for "
                    "(threads)"]


@pytest.mark.slow
def test_resume_tells_thread_settings_apart(four_cores, monkeypatch, tmp_path):
    out, first = sweep(monkeypatch, tmp_path, "--threads", "1")
    # another thread setting is another configuration: it may join the folder without --resume
    out, rows = sweep(monkeypatch, tmp_path, "--threads", "all")
    assert rows[:len(first)] == first and [r["threads"] for r in rows[2:]] == ["all", "all"]
    out, rows = sweep(monkeypatch, tmp_path, "--threads", "1,all", "--resume")
    assert len(rows) == 4   # both settings' cells were measured already


@pytest.mark.slow
def test_adaptive_rounds_pair_within_a_thread_setting(four_cores, monkeypatch, tmp_path):
    args = sweep_args.parser().parse_args(SYNTHETIC + ["--threads", "1,all", "--target-ci", "0.05"])
    sweep_args.validate(args)
    configs = sweep_plan.configurations(args)
    out, _ = sweep(monkeypatch, tmp_path, "--threads", "1,all", "--rounds", "3")
    rows = storage.read_rows(out)
    # Keras's +-10% per round: both settings are wide; with one setting's rows only, only it is
    assert sweep_plan.wide_configurations(args, configs, rows) == [0, 1]
    assert sweep_plan.wide_configurations(args, configs,
                                     [r for r in rows if r["threads"] == "all"]) == [1]


# ---- the report side: two thread settings, two configurations (report/frame.py, GROUP) ------

@pytest.mark.slow
def test_ratios_pair_rounds_within_a_thread_setting_and_ratios_csv_says_which(
        four_cores, monkeypatch, tmp_path):
    out, rows = sweep(monkeypatch, tmp_path, "--threads", "1,all", "--rounds", "2")
    table = read_csv(out / ratios.RATIOS_FILE)
    assert "threads" in table[0]   # the column is pinned
    by_threads = {r["threads"]: float(r["ratio"]) for r in table}
    # geometric mean of 1.1x and 0.9x the Keras/Gluon ratio of each setting
    assert by_threads == {"1": pytest.approx(1.25 * 0.99 ** 0.5, rel=1e-3),
                          "all": pytest.approx(2.0 * 0.99 ** 0.5, rel=1e-3)}
