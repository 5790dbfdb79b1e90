"""Tests of report/: the runs.csv interface, summary tables, plots and README.

The fixture rows use the real columns with made-up values.
"""
import csv
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from report import plots
from report.__main__ import main
from report.readme import readme_markdown, regenerate
from report.storage import (COLUMNS, ReportError, append_row, cell_key, done_keys,
                         read_machine, read_rows)
from report.frame import finished, records
from report.summary import summary_markdown

ROOT = Path(__file__).resolve().parents[1]
LABEL = "fixture-box"
PLOT_FILES = [f"{name}.png" for name in plots.PLOT_NAMES]
RATIO = re.compile(r"(\d+\.\d\d)x \(95% CI (\d+\.\d\d)–(\d+\.\d\d), n=(\d+)\)")

ENVIRONMENT = dict(label=LABEL, host="box1", python="3.11.7", mxnet="1.9.1",
                   keras_mxnet="2.2.4.3", numpy="1.23.5", cpu="Made-up CPU @ 3GHz", cores=16,
                   gpus=2, git_commit="abc1234", kvstore="device", dtype="float32")


def make_row(scenario, impl, ctx, devices, batch, repeat, rng, data="real", slowdown=1.0):
    """One finished cell with plausible, internally consistent numbers."""
    train_samples = 60000 if scenario == "lenet" else 20000
    per_sample_s = (2e-5 if ctx.startswith("gpu") else 4e-4) * (1 + 16 / batch)
    per_sample_s /= devices ** 0.8 if ctx.startswith("gpu") else 0.9
    impl_factor = {"keras": 1.2 + 80 / batch, "gluon": 1.0, "torch": 0.95}[impl] * slowdown
    epoch = train_samples * per_sample_s * impl_factor * rng.uniform(0.97, 1.03)
    flops_per_sample = 6.9e6 if scenario == "lenet" else 4.1e6  # forward + backward
    peak_gflops = 9000.0 * devices if ctx.startswith("gpu") else 600.0
    gflops = train_samples / epoch * flops_per_sample / 1e9
    accuracy = (0.98 if scenario == "lenet" else 0.85) - batch / 1e5 + rng.uniform(-0.002, 0.002)
    return dict(
        ENVIRONMENT, scenario=scenario, impl=impl, ctx=ctx, devices=devices, batch_size=batch,
        per_device_batch=batch // devices, workers=1, repeat=repeat, epochs=3, data=data,
        warmup_s=epoch * (3.0 if impl == "keras" else 1.8), epoch_s_median=epoch,
        epoch_s_min=epoch * 0.99, epoch_s_max=epoch * 1.02,
        samples_per_s=train_samples / epoch, train_samples=train_samples, val_samples=10000,
        train_loss=0.1, train_accuracy=accuracy + 0.01, val_loss=0.12, val_accuracy=accuracy,
        flops_per_sample=flops_per_sample, gflops_per_s=gflops,
        peak_fraction=gflops / peak_gflops, peak_device=ctx.split(":")[0], val_s=epoch / 10, peak_rss_mb=900.0, status="ok", reason="",
        started_at=f"2024-05-01T10:{repeat:02d}:00", param_check="ok",
        torch="2.1.0" if impl == "torch" else None)


def fixture_rows(repeats=3):
    """Two scenarios, CPU and GPU contexts, a torch yardstick, synthetic rows, one failed cell."""
    rng = random.Random(7)
    rows = []
    for repeat in range(repeats):
        for scenario, batches in [("lenet", [128, 256, 1024]), ("rnn", [128, 256])]:
            for ctx, devices in [("cpu", 1), ("cpu:0-1", 2), ("gpu:0", 1), ("gpu:0-1", 2)]:
                for batch in batches:
                    for impl in ["keras", "gluon"] + (["torch"] if ctx == "gpu:0" else []):
                        if (scenario, impl, ctx, batch, repeat) == ("rnn", "keras", "gpu:0-1", 256, 1):
                            rows.append(dict(ENVIRONMENT, scenario=scenario, impl=impl, ctx=ctx,
                                             devices=devices, batch_size=batch, repeat=repeat,
                                             workers=1, data="real", status="failed",
                                             reason="MXNetError: out of memory on gpu(1)"))
                            continue
                        rows.append(make_row(scenario, impl, ctx, devices, batch, repeat, rng))
        for impl in ["keras", "gluon"]:
            # Synthetic data makes both implementations look faster than on real data.
            rows.append(make_row("lenet", impl, "gpu:0", 1, 1024, repeat, rng, data="synthetic",
                                 slowdown=0.5))
    return rows


def write_csv(path, rows):
    for row in rows:
        append_row(path, row)
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """results/<LABEL>/runs.csv holding fixture_rows(), regenerated once for all tests."""
    results_dir = tmp_path_factory.mktemp("shared") / "results"
    write_csv(results_dir / LABEL / "runs.csv", fixture_rows())
    notes = regenerate(results_dir)
    return results_dir, notes


def expected_ratios(rows):
    """Keras/Gluon epoch-time ratios computed directly from the rows, independently of report/:
    the geometric mean of the per-repeat ratios and a 95% t-interval on their logs."""
    times = {}
    for r in rows:
        if r["status"] == "ok" and r["impl"] in ("keras", "gluon"):
            line = (r["scenario"], r["ctx"], r["batch_size"], r["data"])
            times.setdefault(line, {}).setdefault(r["repeat"], {})[r["impl"]] = r["epoch_s_median"]
    expected = {}
    for line, by_repeat in times.items():
        logs = np.log([t["keras"] / t["gluon"] for t in by_repeat.values() if len(t) == 2])
        half = scipy.stats.t.ppf(0.975, len(logs) - 1) * logs.std(ddof=1) / np.sqrt(len(logs))
        expected[line] = (f"{np.exp(logs.mean()):.2f}", f"{np.exp(logs.mean() - half):.2f}",
                          f"{np.exp(logs.mean() + half):.2f}", str(len(logs)))
    return expected


def table_ratios(markdown):
    """{(scenario, ctx, batch, data): ratio tuple} parsed from the summary tables."""
    found, section, column = {}, None, None
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading = re.match(r"#+ (\w+) on (\S+)( \(synthetic\))?$", line)
            section, column = None, None
            if heading:
                scenario, ctx, synthetic = heading.groups()
                section = (scenario, ctx, "synthetic" if synthetic else "real")
        elif line.startswith("|") and section:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if "Keras/Gluon epoch time" in cells:
                column = cells.index("Keras/Gluon epoch time")
            elif column is not None and not set(cells[0]) <= set("-: "):
                batch = int(cells[0].split()[0])
                found[(section[0], section[1], batch, section[2])] = RATIO.fullmatch(
                    cells[column]).groups()
    return found


@pytest.mark.slow
def test_png_files_exist_and_are_real_images(results):
    import matplotlib.image

    results_dir, notes = results
    assert notes == []  # the fixture has data for every plot
    for name in PLOT_FILES:
        path = results_dir / LABEL / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert path.stat().st_size > 10_000, name
        height, width = matplotlib.image.imread(path).shape[:2]
        assert width > 300 and height > 200, name
    page = (results_dir / LABEL / "summary.md").read_text()   # the folder's page shows them
    for name in PLOT_FILES:
        assert f"]({name})" in page


def test_quoted_overhead_ratios_match_the_csv(results):
    results_dir, _ = results
    rows = read_rows(results_dir / LABEL / "runs.csv")
    expected = expected_ratios(rows)

    summary = (results_dir / LABEL / "summary.md").read_text()
    assert table_ratios(summary) == expected

    overhead_lines = [l for l in summary.splitlines() if l.startswith("- Keras overhead")]
    assert len(overhead_lines) == 5  # lenet/rnn x cpu/gpu, plus lenet gpu synthetic
    for line in overhead_lines:
        scenario, kind = re.match(r"- Keras overhead, (\w+) on (\w+)", line).groups()
        data = "synthetic" if "(synthetic data)" in line else "real"
        mine = {k: v for k, v in expected.items()
                if k[0] == scenario and k[1].startswith(kind.lower()) and k[3] == data}
        for quoted in RATIO.findall(line):
            assert quoted in mine.values(), line
        span = re.search(r"is (\d+\.\d\d)x–(\d+\.\d\d)x Gluon's over (\d+) cells", line)
        if span:
            medians = [float(v[0]) for v in mine.values()]
            assert span.groups() == (f"{min(medians):.2f}", f"{max(medians):.2f}", str(len(mine)))


@pytest.mark.slow
def test_failed_cell_is_listed_and_not_plotted(tmp_path, monkeypatch):
    rows = read_rows(write_csv(tmp_path / "runs.csv", fixture_rows()))
    summary = summary_markdown(rows, "t")
    failed_part = summary.split("## Failed cells")[1]
    assert "| rnn" in failed_part and "MXNetError: out of memory on gpu(1)" in failed_part

    seen = []
    monkeypatch.setattr(plots, "PLOTS",   # a plot takes the folder's frame
                        {"spy": lambda rows, label: seen.extend(records(rows)) or 1 / 0})
    with pytest.raises(ZeroDivisionError):
        plots.render_plots(rows, tmp_path, "t")
    assert seen and all(r["status"] == "ok" for r in seen)


def test_only_failed_cells_gives_no_images(tmp_path):
    rows = [r for r in read_rows(write_csv(tmp_path / "runs.csv", fixture_rows()))
            if r["status"] == "failed"]
    written, notes = plots.render_plots(rows, tmp_path, "t")
    assert written == [] and len(notes) == len(PLOT_FILES)
    assert not list(tmp_path.glob("*.png"))


def test_missing_essential_column_is_a_clean_error(tmp_path, capsys):
    path = tmp_path / "results" / "box" / "runs.csv"
    path.parent.mkdir(parents=True)
    header = [c for c in COLUMNS if c != "samples_per_s"]
    path.write_text(",".join(header) + "\n" + ",".join("1" for _ in header) + "\n")
    with pytest.raises(ReportError) as error:
        read_rows(path)
    assert str(path) in str(error.value) and "samples_per_s" in str(error.value)
    assert "\n" not in str(error.value)

    assert main(["--results", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "samples_per_s" in err and "Traceback" not in err


def test_missing_results_dir_is_a_clean_error(tmp_path, capsys):
    assert main(["--results", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.slow
def test_synthetic_rows_are_marked_and_separate(tmp_path):
    rows = read_rows(write_csv(tmp_path / "runs.csv", fixture_rows()))
    summary = summary_markdown(rows, "t")
    assert "## lenet on gpu:0 (synthetic)" in summary and "## lenet on gpu:0\n" in summary
    synthetic_table = summary.split("## lenet on gpu:0 (synthetic)")[1].split("##")[0]
    assert "| 1024 (synthetic)" in synthetic_table and "| 128 " not in synthetic_table
    ratios = table_ratios(summary)
    assert ratios[("lenet", "gpu:0", 1024, "synthetic")] != ratios[("lenet", "gpu:0", 1024, "real")]

    fig = plots.plot_throughput(records(finished(rows)), "t")
    handles, labels = fig.axes[0].get_legend_handles_labels()
    synthetic = [h for h, label in zip(handles, labels) if "(synthetic)" in label]
    assert synthetic and all(h[0].get_linestyle() == "--" for h in synthetic)
    assert all(h[0].get_linestyle() == "-" for h, label in zip(handles, labels)
               if "(synthetic)" not in label)


@pytest.mark.slow
def test_single_repeat_says_evidence_is_weak(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(plots, "PLOTS", {"scaling": plots.plot_scaling})  # the only one skipped
    results_dir = tmp_path / "results"
    rows = [r for r in fixture_rows(repeats=1) if r["ctx"] in ("cpu", "gpu:0")]
    write_csv(results_dir / "one-shot" / "runs.csv", rows)
    assert main(["--results", str(results_dir)]) == 0
    out = capsys.readouterr().out
    assert "1 plot not drawn" in out and "skipped" not in out  # one line, not one per plot
    readme = (results_dir / "one-shot" / "summary.md").read_text()
    assert "Not drawn: skipped scaling.png" in readme  # one device count only
    overhead = [l for l in readme.splitlines() if l.startswith("- Keras overhead")]
    assert overhead and all("Evidence is weak: one round" in l for l in overhead)
    assert "one repeat, so the noise is unknown and the evidence is weak" in readme
    assert "no implementation was run on 1 and on more devices" in readme
    assert not (results_dir / "one-shot" / "scaling.png").exists()


def test_readme_conclusions_and_historical(results):
    results_dir, _ = results
    readme = (results_dir / LABEL / "summary.md").read_text()   # the folder's conclusions
    assert "Scaling, lenet Gluon on GPU, 128 samples per device: 2 devices give" in readme
    assert "CPU contexts share cores" in readme
    assert "Torch yardstick, lenet on GPU: Gluon epoch time is" in readme
    assert "Throughput saturation" in readme and "  - lenet on gpu:0: Gluon from batch 256" in readme
    assert "Fraction of measured peak, lenet Gluon on GPU: at most" in readme
    assert "| Made-up CPU @ 3GHz" in readme and "abc1234" in readme
    historical = (results_dir / "README.md").read_text().split("## Historical reference")[1]
    assert "Keras 19,851 vs MXNet example 41,494 samples/s: Keras about 2.1x slower" in historical
    assert "Keras 95,601 vs MXNet example 277,778 samples/s: Keras about 2.9x slower" in historical
    assert "228–283" in historical and "not possible in reasonable time" in historical


def test_empty_results_dir_gives_historical_only(tmp_path):
    notes = regenerate(tmp_path)
    assert notes and "no <label>/runs.csv" in notes[0]
    assert "No machine results yet." in (tmp_path / "README.md").read_text()
    assert "Historical reference" in readme_markdown(tmp_path)


# runs.csv's columns are a public interface: this list is written out, not derived, so that a
# renamed, removed or reordered column fails here. New columns go at the end (and here).
PUBLIC_COLUMNS = [
    "scenario", "impl", "ctx", "devices", "batch_size", "epochs", "warmup_s",
    "epoch_s_median", "epoch_s_min", "epoch_s_max", "samples_per_s",
    "train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_s",
    "peak_rss_mb", "data", "status", "reason", "started_at",
    "label", "repeat", "per_device_batch", "workers", "kvstore", "dtype",
    "train_samples", "val_samples", "flops_per_sample", "gflops_per_s",
    "peak_fraction", "loop_cpu_fraction", "param_check", "servers", "per_worker", "host",
    "python", "mxnet", "keras_mxnet", "numpy", "torch", "cpu", "cores", "gpus", "git_commit",
    "omp_threads", "max_samples", "process_env", "peak_device",
    "round", "arm", "order", "load_avg_1m", "other_cpu_s", "steal_s", "ctx_switches",
    "cpu_mhz", "noise_flags", "canary_ms", "profiled", "profile_coverage", "method",
    "fixes", "fused_layers", "kept_layers", "threads",
    "model_file", "model_sha256", "parameters", "verified", "epoch_s_turns",
]


def test_runs_csv_columns_are_the_public_ones_in_order(tmp_path):
    assert COLUMNS == PUBLIC_COLUMNS
    path = tmp_path / "runs.csv"
    append_row(path, {"scenario": "lenet"})
    assert path.read_text().splitlines()[0] == ",".join(PUBLIC_COLUMNS)


def test_append_row_is_complete_after_each_append(tmp_path):
    path = tmp_path / "out" / "runs.csv"
    rows = fixture_rows(repeats=1)[:3]
    for count, row in enumerate(rows, start=1):
        append_row(path, row)
        lines = path.read_text().splitlines()
        assert lines[0] == ",".join(COLUMNS) and len(lines) == count + 1
        assert sum(line == lines[0] for line in lines) == 1
        assert len(read_rows(path)) == count
    back = read_rows(path)[0]
    assert back["epoch_s_median"] == rows[0]["epoch_s_median"]  # floats round-trip exactly
    assert back["batch_size"] == 128 and back["torch"] is None  # missing key -> blank -> None


@pytest.mark.parametrize("kill", ["at_the_30th_fsync", "at_a_random_moment"])
def test_append_row_survives_a_kill(tmp_path, kill):
    # A process appends rows as fast as it can and is killed while appending: from inside, at
    # its 30th fsync (a row written, not yet synced), or from outside at an arbitrary moment,
    # most likely inside append_row (header read, write, fsync). The file must hold complete
    # rows 0..k-1 in order, one header, no partial line: at most the row in flight is lost.
    path = tmp_path / "runs.csv"
    started = tmp_path / "started"
    reason = 'a, quoted "reason" /' * 20  # commas and quotes: CSV quoting
    script = ("import os, pathlib, signal, sys\n"
              "from report.storage import append_row\n"
              "fsync, calls = os.fsync, []\n"
              "def killing_fsync(fd):\n"
              "    calls.append(fd)\n"
              f"    if {kill == 'at_the_30th_fsync'} and len(calls) == 30:\n"
              "        os.kill(os.getpid(), signal.SIGKILL)\n"
              "    fsync(fd)\n"
              "os.fsync = killing_fsync\n"
              "for i in range(100000):\n"
              f"    append_row({str(path)!r}, dict(scenario='lenet', impl='keras', ctx='cpu', "
              "batch_size=64, repeat=i, status='ok', samples_per_s=i + 0.5, epoch_s_median=2.0, "
              f"reason={reason!r}))\n"
              f"    if i == 20: pathlib.Path({str(started)!r}).touch()\n")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    if kill == "at_a_random_moment":
        deadline = time.time() + 60
        while not started.exists() and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(random.uniform(0, 0.2))
        process.kill()
    assert process.wait(timeout=60) == -9
    text = path.read_text()
    assert text.endswith("\n") and text.count(",".join(COLUMNS)) == 1
    rows = read_rows(path)
    assert len(rows) >= (29 if kill == "at_the_30th_fsync" else 21)  # 21 before `started`
    assert [r["repeat"] for r in rows] == list(range(len(rows)))
    assert all(r["samples_per_s"] == r["repeat"] + 0.5 for r in rows)
    assert all(r["reason"] == reason for r in rows)


def test_append_row_rejects_bad_input(tmp_path):
    with pytest.raises(ReportError, match="unknown column"):
        append_row(tmp_path / "runs.csv", {"scenario": "lenet", "speed": 3})
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ReportError, match="columns report.storage.COLUMNS lacks"):
        append_row(other, {"scenario": "lenet"})
    assert other.read_text() == "a,b\n1,2\n"


def test_append_row_upgrades_a_file_written_before_columns_were_added(tmp_path):
    path = tmp_path / "runs.csv"
    old_columns = [c for c in COLUMNS if c not in ("omp_threads", "servers")]
    old_row = {c: "" for c in old_columns}
    old_row.update(scenario="lenet", impl="keras", ctx="cpu", batch_size="64", status="ok",
                   samples_per_s="812.25", epoch_s_median="7.5", reason="a, quoted \"one\"")
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=old_columns, lineterminator="\n")
        writer.writeheader()
        writer.writerow(old_row)
    append_row(path, dict(scenario="lenet", impl="gluon", ctx="cpu", batch_size=64, status="ok",
                          samples_per_s=1000.5, epoch_s_median=6.0, omp_threads=2))
    assert next(csv.reader(open(path, newline=""))) == COLUMNS
    first, second = read_rows(path)
    assert (first["impl"], first["samples_per_s"], first["omp_threads"]) == ("keras", 812.25, None)
    assert first["reason"] == 'a, quoted "one"'
    assert (second["impl"], second["omp_threads"]) == ("gluon", 2)
    assert not list(tmp_path.glob("*.writing"))


def test_read_rows_tolerates_extra_and_missing_optional_columns(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("scenario,impl,ctx,batch_size,status,samples_per_s,epoch_s_median,note\n"
                    "lenet,gluon,cpu,64,ok,100.5,3.0,hello\n")
    row = read_rows(tmp_path)[0]  # a directory means <dir>/runs.csv
    assert row["samples_per_s"] == 100.5 and row["batch_size"] == 64
    assert row["note"] == "hello" and row["val_accuracy"] is None and row["workers"] is None


def test_done_keys(tmp_path):
    path = write_csv(tmp_path / "runs.csv", fixture_rows())
    failed = ("rnn", "keras", "gpu:0-1", 256, 1, "real", 1, "float32", None, "all", "")
    done = done_keys(path)
    assert failed not in done and failed in done_keys(path, include_failed=True)
    planned = dict(scenario="lenet", impl="keras", ctx="cpu", batch_size=128, repeat=0,
                   data="real", workers=1, dtype="float32")
    assert cell_key(planned) in done
    # a cell measured on a prefix (--max-samples) is not the full-data cell, nor another prefix
    prefix = dict(fixture_rows()[0], max_samples=6000)
    write_csv(tmp_path / "prefix.csv", [prefix])
    assert cell_key(dict(prefix, max_samples=None)) not in done_keys(tmp_path / "prefix.csv")
    assert cell_key(dict(prefix, max_samples=3000)) not in done_keys(tmp_path / "prefix.csv")
    assert cell_key(prefix) in done_keys(tmp_path / "prefix.csv")
    assert len(done) == sum(r["status"] == "ok" for r in fixture_rows())
    assert done_keys(tmp_path / "absent.csv") == set()


def test_peak_fraction_comes_from_peak_json_where_a_row_has_none(tmp_path):
    rng = random.Random(3)
    before_peak = make_row("lenet", "gluon", "cpu", 1, 128, 1, rng)
    before_peak["peak_fraction"] = None          # ran before `bench.py --peak`
    recorded = make_row("lenet", "keras", "cpu", 1, 128, 1, rng)   # its own fraction kept
    run_dir = tmp_path / "box"
    write_csv(run_dir / "runs.csv", [before_peak, recorded])
    assert read_machine(run_dir)[0]["peak_fraction"] is None       # no peak.json: none made up
    (run_dir / "peak.json").write_text('{"gflops": 200.0}')
    gluon, keras = read_machine(run_dir)
    assert gluon["peak_fraction"] == round(before_peak["gflops_per_s"] / 200.0, 4)
    assert keras["peak_fraction"] == recorded["peak_fraction"]

    table = summary_markdown([gluon, keras], "t")
    header, _, line = [l for l in table.splitlines() if l.startswith("|")][:3]
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in line.split("|")]))
    assert cells["Gluon % of peak"] == f"{gluon['peak_fraction']:.1%}"
    assert cells["Keras % of peak"] == f"{keras['peak_fraction']:.1%}"
    assert cells["train samples"] == "60,000"
    keras["train_samples"] = 6000                 # a --max-samples prefix shows as such
    assert "| 6,000–60,000 " in summary_markdown([gluon, keras], "t")


def test_saturation_takes_each_configuration_alone():
    """results/xeon-2cores once said the CNN-LSTM's Keras "peaks at 214 at batch 128": a median
    over three configurations (prefixes) of batch 128. Each prefix is a series of its own."""
    from report.conclusions import saturation_conclusions

    rng = random.Random(3)
    rows = []
    for repeat in range(3):
        for batch, samples, rate in [(64, 1536, 200.0), (128, 1536, 240.0), (256, 1536, 235.0),
                                     (128, None, 170.0),
                                     (128, 3072, 210.0)]:
            rows.append(dict(make_row("rnn", "keras", "cpu", 1, batch, repeat, rng),
                             max_samples=samples, samples_per_s=rate))
    head, lines = saturation_conclusions(rows)
    assert lines == ["rnn on cpu, first 1,536 samples: Keras from batch 128 (240 samples/s; "
                     "max 240 at batch 128)."]
