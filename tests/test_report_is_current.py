"""The committed report is the report of the committed rows: `python -m report` on a copy of
results/ (and of README.md) writes results/README.md, README.md's headline block and every
folder's summary.md byte for byte as committed. A hand edit of a generated file, or rows
committed without regenerating, fail here."""
import shutil
from pathlib import Path

import matplotlib.figure
import pytest

from report.__main__ import main as report_main
from report.readme import BLOCK_END, BLOCK_START, SUMMARY_FILE

REPO = Path(__file__).resolve().parent.parent


def generated(results):
    """results/README.md and every summary.md under `results`, by path relative to it."""
    paths = [results / "README.md"] + sorted(results.rglob(SUMMARY_FILE))
    return {str(p.relative_to(results)): p.read_text() for p in paths}


def block(readme):
    text = readme.read_text()
    return text[text.index(BLOCK_START):text.index(BLOCK_END)]


@pytest.mark.slow
def test_python_m_report_reproduces_the_committed_report(tmp_path, monkeypatch):
    # The PNGs are copied as committed and not drawn again: the pages depend only on which
    # plots a folder's rows can draw, and drawing them is most of the report's time.
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda self, *a, **k: None)
    copy = tmp_path / "results"
    shutil.copytree(REPO / "results", copy)
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    committed = generated(REPO / "results")
    for name in committed:   # nothing generated is left over to be found as it was
        (copy / name).unlink()
    (tmp_path / "README.md").write_text(
        (REPO / "README.md").read_text().replace(block(REPO / "README.md"), BLOCK_START + "\n"))

    assert report_main(["--results", str(copy)]) == 0
    assert generated(copy) == committed
    assert block(tmp_path / "README.md") == block(REPO / "README.md")
    assert len(block(REPO / "README.md").splitlines()) > 10   # the block holds the headline
