"""results/README.md's "Does Keras on MXNet compute what Keras says?" gives the conformance
suite's counts, read from results/conformance/table.csv (issue 30), not written by hand."""
import csv

from report.readme import conformance_summary

COLUMNS = ["case", "kind", "stock", "detail", "fused", "keras_mxnet", "tensorflow"]


def write_table(results_dir, rows):
    (results_dir / "conformance").mkdir(parents=True)
    with open(results_dir / "conformance" / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for case, stock, detail, fused in rows:
            writer.writerow(dict(case=case, kind="layers", stock=stock, detail=detail,
                                 fused=fused, keras_mxnet="2.2.4.3", tensorflow="2.15.1"))


def test_the_counts_come_from_the_table(tmp_path):
    write_table(tmp_path, [
        ("Dense", "matches", "", "verified"),
        ("Conv2D", "matches", "", "verified"),
        ("UpSampling2D", "differs", "the predictions differ", "no fix applies"),
        ("LocallyConnected1D", "fails", "fails to build: layer 'l' (LocallyConnected1D) can't be "
                                        "built on MXNet: ...", "stock fails to build"),
        ("Highway", "keras cannot run", "tf.keras: Unknown layer", "no fix applies"),
    ])
    said = conformance_summary(tmp_path)
    assert "tf.keras 2.15.1" in said and "of 5 cases" in said and "4 run in tf.keras" in said
    assert "matches Keras on 2, differs on 1 (UpSampling2D) and fails on 1, 1 of them " \
           "refused at build time by name" in said
    assert "verified equal to stock on 2 cases" in said


def test_no_table_no_section(tmp_path):
    assert conformance_summary(tmp_path) == ""
