"""bench.py --profile (cell/profiling.py, cell/harness.py's operator_rows, operators.csv) and the
report's "Where the time goes" (report/operators.py): the files, the arithmetic, and profiled
cells kept out of every throughput table and ratio."""
import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

import bench
from cell import harness, profiling
from report import operators, readme, storage, summary
from report import ratios as report_ratios
from report.frame import finished
from tests.helpers import cell_row

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_COLUMNS = ["scenario", "impl", "ctx", "batch_size", "dtype", "max_samples", "round",
                    "operator", "calls_per_step", "ms_per_step", "share_of_step"]


@pytest.fixture(scope="module")
def profiled_run(tmp_path_factory):
    """One tiny profiled sweep of the three MXNet arms (LeNet, synthetic data)."""
    out = tmp_path_factory.mktemp("results") / "machine"
    done = subprocess.run([sys.executable, "bench.py", "--profile", "--scenario", "lenet",
                           "--impl", "keras,keras-graph,gluon", "--batch-sizes", "32", "--epochs",
                           "2", "--max-samples", "64", "--data", "synthetic", "--quiet",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.mark.slow
def test_operators_csv_has_its_columns_and_every_arm(profiled_run):
    with open(profiled_run / "operators.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == OPERATOR_COLUMNS == storage.OPERATOR_COLUMNS
        rows = list(reader)
    assert {r["impl"] for r in rows} == {"keras", "keras-graph", "gluon"}
    for r in rows:
        assert (r["scenario"], r["ctx"], r["batch_size"], r["dtype"], r["max_samples"],
                r["round"]) == ("lenet", "cpu", "32", "float32", "64", "1")
        assert float(r["calls_per_step"]) > 0 and float(r["ms_per_step"]) >= 0
    # operator by operator (no bulked segment named after several operators)
    assert not any("," in r["operator"] for r in rows)
    convolution = [r for r in rows if r["operator"] == "Convolution"]
    assert len(convolution) == 3 and {float(r["calls_per_step"]) for r in convolution} == {2.0}


@pytest.mark.slow
def test_profiled_rows_are_marked_with_their_coverage(profiled_run):
    rows = storage.read_rows(profiled_run)
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
    for r in rows:
        assert r["profiled"] == "yes"
        assert 0.2 < r["profile_coverage"] < 4, r   # operators overlap the loop's own time
    assert {"profiled", "profile_coverage"} <= set(storage.COLUMNS)   # order: test_report.py


@pytest.mark.slow
def test_a_profiled_sweep_writes_no_throughput_table(profiled_run):
    text = (profiled_run / "summary.md").read_text()
    assert "No completed cells." in text and "samples/s" not in text


@pytest.mark.slow
def test_the_report_explains_from_the_files(profiled_run):
    readme.regenerate(profiled_run.parent)
    text = (profiled_run / "summary.md").read_text()   # the folder's page
    section = text[text.index("## Where the time goes"):text.index("## Plots")]
    assert "No cell has unprofiled keras, keras-graph and gluon rows" in section
    assert "milliseconds per step by operator category" in section
    assert "_backward_broadcast_add" in section   # Keras's bias adds, by name
    assert (profiled_run / "operators.png").is_file()


def test_a_folder_without_keras_graph_or_a_profile_gets_no_section(tmp_path):
    rows = [row("keras", 1.5), row("gluon", 1.0)]
    assert operators.section(tmp_path, rows) == ""
    assert "Where the time goes" in operators.section(tmp_path, rows + [row("keras-graph", 1.2)])


def row(impl, epoch_s, repeat=1, profiled=None, **more):
    return cell_row(impl, epoch_s, **{"batch_size": 64, "repeat": repeat,
                                      "samples_per_s": 1000 / epoch_s, "devices": 1,
                                      "profiled": profiled, **more})


def test_a_profiled_cell_stays_out_of_the_ratio_tables():
    rows = [row("keras", 2.0), row("gluon", 1.0),
            row("keras", 50.0, repeat=2, profiled="yes"), row("gluon", 1.0, repeat=2, profiled="yes")]
    ratios = report_ratios.paired_ratios(rows)
    assert len(ratios) == 1 and ratios[0]["ratio"] == 2.0 and ratios[0]["n"] == 1
    assert all(not r.get("profiled") for r in finished(rows).to_dict("records"))
    text = summary.summary_sections(rows)
    assert "2.00x (n=1, no CI)" in text and "| 500 " in text   # keras: 1000 / 2.0 s
    assert "| 20 " not in text   # the profiled keras row's 1000 / 50 s


def test_resume_tells_profiled_cells_from_timed_ones(tmp_path):
    path = tmp_path / "runs.csv"
    storage.append_row(path, dict(row("gluon", 1.0, profiled="yes"), profile_coverage=0.9))
    key = storage.cell_key(row("gluon", 1.0))
    assert storage.done_keys(path) == set()
    assert storage.done_keys(path, profiled=True) == {key}


def test_loop_and_graph_split_per_round():
    # round 1: keras 3, keras-graph 2, gluon 1 -> loop 1.5, graph 2, total 3
    # round 2: keras 4, keras-graph 2, gluon 1 -> loop 2, graph 2, total 4
    rows = [row("keras", 3.0, 1), row("keras-graph", 2.0, 1), row("gluon", 1.0, 1),
            row("keras", 4.0, 2), row("keras-graph", 2.0, 2), row("gluon", 1.0, 2),
            row("keras", 99.0, 3, profiled="yes"), row("keras-graph", 1.0, 3, profiled="yes"),
            row("gluon", 1.0, 3, profiled="yes")]
    [split] = operators.loop_graph_split(rows)
    assert split["rounds"] == 2
    assert split["loop"].per_round == {1: 1.5, 2: 2.0}
    assert split["graph"].per_round == {1: 2.0, 2: 2.0}
    assert split["total"].per_round == {1: 3.0, 2: 4.0}
    assert split["total"].ratio == pytest.approx(math.sqrt(12))   # geometric means multiply:
    assert split["loop"].ratio * split["graph"].ratio == pytest.approx(split["total"].ratio)
    shares = [math.log(1.5) / math.log(3), math.log(2) / math.log(4)]
    assert split["loop_share"] == pytest.approx(sum(shares) / 2)
    assert split["loop_share"] + split["graph_share"] == pytest.approx(1)
    table = operators.split_table([split])
    assert f"{math.sqrt(12):.2f}x (" in table and f"{math.sqrt(3):.2f}x (" in table
    assert split["total"].factor() in table and split["loop"].factor() in table


def test_rounds_pair_by_the_round_column_where_there_is_one():
    rows = [row("keras", 3.0, 1, round=7), row("keras-graph", 2.0, 1, round=7),
            row("gluon", 1.0, 1, round=7), row("gluon", 9.0, 2, round=8)]
    [split] = operators.loop_graph_split(rows)
    assert split["rounds"] == 1 and split["total"].ratio == pytest.approx(3.0)


def test_operator_rows_are_per_step_with_their_coverage():
    ops = [{"operator": "dot", "calls": 40, "total_ms": 200.0},
           {"operator": "Convolution", "calls": 20, "total_ms": 600.0}]
    rows, coverage = harness.operator_rows(ops, timed_steps=10, timed_seconds=1.0)  # 100 ms/step
    assert rows[0] == {"operator": "Convolution", "calls_per_step": 2.0, "ms_per_step": 60.0,
                       "share_of_step": 0.6}
    assert rows[1]["calls_per_step"] == 4.0 and rows[1]["share_of_step"] == 0.2
    assert coverage == 0.8
    assert harness.operator_rows(None, 10, 1.0) == (None, None)


def test_mxnet_aggregate_stats_are_read_from_the_operator_domain():
    stats = {"Time": {"operator": {"dot": {"Count": 6, "Total": 0.449, "Min": 0.05},
                                   "broadcast_add": {"Count": 4, "Total": 0.1}},
                      "MXNET_C_API": {"MXNDArrayFree": {"Count": 11, "Total": 0.019}}}}
    assert sorted(profiling.parse_mxnet(stats), key=lambda o: o["operator"]) == [
        {"operator": "broadcast_add", "calls": 4, "total_ms": 0.1},
        {"operator": "dot", "calls": 6, "total_ms": 0.449}]


@pytest.mark.parametrize("name, kind", [
    ("_backward_broadcast_add", "elementwise"), ("broadcast_add", "elementwise"),
    ("Convolution", "convolution"), ("_backward_Convolution", "convolution"),
    ("FullyConnected", "dense/dot"), ("_backward_dot", "dense/dot"), ("RNN", "RNN"),
    ("_backward_RNN", "RNN"), ("sgd_update", "optimizer update"),
    ("multi_sgd_update", "optimizer update"), ("adam_update", "optimizer update"),
    ("transpose", "copies/reorders"), ("CopyCPU2CPU", "copies/reorders"),
    ("LeakyReLU", "elementwise"), ("Pooling", "other"), ("WaitForVar", "other"),
    ("aten::addmm", "dense/dot"), ("aten::mkldnn_convolution", "convolution"),
    ("aten::copy_", "copies/reorders"), ("aten::lstm", "RNN"),
])
def test_operator_categories(name, kind):
    assert operators.category(name) == kind


def op(impl, name, ms, round_=1, scenario="lenet"):
    return {"scenario": scenario, "impl": impl, "ctx": "cpu", "batch_size": 64,
            "dtype": "float32", "max_samples": 1024, "round": round_, "operator": name,
            "calls_per_step": 1.0, "ms_per_step": ms, "share_of_step": 0.1}


def test_per_step_times_are_medians_over_rounds_and_keras_extra_is_ranked():
    rows = [op("keras", "broadcast_add", 5.0, 1), op("keras", "broadcast_add", 7.0, 2),
            op("keras", "_backward_broadcast_add", 30.0, 1), op("keras", "Convolution", 10.0, 1),
            op("keras", "Convolution", 10.0, 2), op("gluon", "Convolution", 11.0, 1),
            op("gluon", "FullyConnected", 2.0, 1)]
    [(cell, steps)] = operators.per_step(rows).items()
    # _backward_broadcast_add ran in round 1 only: median of (30, 0)
    assert steps["keras"] == {"broadcast_add": 6.0, "_backward_broadcast_add": 15.0,
                              "Convolution": 10.0}
    assert operators.by_category(steps["keras"])["elementwise"] == 21.0
    extra, total = operators.extra_over(steps["keras"], steps["gluon"])
    assert extra == [("_backward_broadcast_add", 15.0), ("broadcast_add", 6.0)]
    assert total == 31.0 - 13.0
    [check] = operators.hand_profile_checks(operators.per_step(rows))
    assert "its bias adds" in check


def test_hand_profile_check_says_when_the_profile_disagrees():
    rows = [op("keras", name, ms, scenario="rnn") for name, ms in
            [("RNN", 50.0), ("dot", 5.0), ("elemwise_mul", 5.0)]]
    [check] = operators.hand_profile_checks(operators.per_step(rows))
    assert "17%" in check and "do not dominate" in check   # (5 + 5) / 60


def test_profile_on_dist_sync_is_refused_in_one_line(capsys):
    code = bench.main(["--profile", "--kvstore", "dist_sync", "--scenario", "lenet",
                       "--data", "synthetic", "--batch-sizes", "64"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--profile" in err and "dist_sync" in err


@pytest.mark.slow
def test_torch_profile_through_the_harness():
    pytest.importorskip("torch")
    cell = {"scenario": "lenet", "impl": "torch", "ctx": "cpu", "data": "synthetic", "seed": 0,
            "max_samples": 64, "batch_size": 32, "epochs": 2, "quiet": True, "profile": True}
    result = harness.run_cell(cell, progress=False)
    names = {o["operator"] for o in result["operators"]}
    assert any("conv" in n for n in names) and result["profiled"] == "yes"
