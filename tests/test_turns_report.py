"""The report never pools turns rows with rounds rows, and takes a turns round's ratio from its
turns: the geometric mean of the paired per-turn ratios, with their spread beside it."""
import math

import pytest

from report import frame, ratios, storage
from report.storage import join_times


def row(arm, round_number, median, turns=None):
    """A finished row of one configuration; with `turns`, measured by turns."""
    found = {"scenario": "lenet", "impl": arm.replace("-control", ""), "arm": arm, "ctx": "cpu",
             "batch_size": 128, "round": round_number, "repeat": round_number, "status": "ok",
             "epoch_s_median": median, "samples_per_s": 1000 / median, "max_samples": 256,
             "method": storage.METHOD}
    if turns is not None:
        found.update(method=storage.TURNS_METHOD, epoch_s_turns=join_times(turns))
    return found


def rows():
    """Two rounds by rounds and two by turns of the same configuration and arms."""
    return [row("keras", 1, 2.0), row("gluon", 1, 1.0), row("keras", 2, 2.2), row("gluon", 2, 1.0),
            row("keras", 1, 3.0, turns=[3.0, 2.0, 4.0]), row("gluon", 1, 1.0, turns=[1.0, 1.0, 1.0]),
            row("keras", 2, 3.0, turns=[3.0, 3.0, 3.0]), row("gluon", 2, 1.5, turns=[1.5, 1.5, 1.5])]


def test_turns_rows_and_rounds_rows_are_two_configurations():
    lines = frame.lines(rows())
    assert len(lines) == 2
    assert [group[frame.GROUP.index("by_turns")] for group, _, _ in lines] == [False, True]
    for _, _, by_arm in lines:   # each line holds its own method's rows only
        assert {len(part) for part in by_arm.values()} == {2}
        methods = {r["method"] for part in by_arm.values() for r in part}
        assert len(methods) == 1


def test_a_turns_rounds_ratio_is_the_geometric_mean_of_its_turns():
    by_rounds, by_turns = ratios.paired_ratios(rows(), "keras", "gluon")
    assert not by_rounds["by_turns"] and by_turns["by_turns"]
    assert by_rounds["per_round"] == pytest.approx({1: 2.0, 2: 2.2})   # the medians, as before
    first = (3.0 * 2.0 * 4.0) ** (1 / 3)   # turns 3/1, 2/1, 4/1
    assert by_turns["per_round"] == pytest.approx({1: first, 2: 2.0})   # not the medians' 3.0
    assert by_turns["ratio"] == pytest.approx(math.sqrt(first * 2.0))   # over rounds as before
    assert by_turns["n"] == 2 and by_turns["ci_low"] < by_turns["ratio"] < by_turns["ci_high"]
    spread = math.exp(math.sqrt(sum((math.log(r) - math.log(first)) ** 2 for r in (3, 2, 4)) / 2))
    assert by_turns["turn_spread"] == pytest.approx(((spread - 1) + 0.0) / 2)   # median of 2
    assert by_rounds["turn_spread"] is None


def test_ratios_csv_says_which_method_each_ratio_is_by():
    table = ratios.ratios_table(rows(), pairs=[("keras", "gluon")])
    assert [(r["method"], r["rounds"]) for r in table] == [("rounds", 2), ("turns", 2)]
    assert table[0]["turn_spread"] == "" and float(table[1]["turn_spread"]) > 0


def test_a_turns_cell_is_another_cell_than_a_rounds_one_for_resume():
    turns_row, rounds_row = row("keras", 1, 3.0, turns=[3.0]), row("keras", 1, 2.0)
    assert storage.cell_key(turns_row) != storage.cell_key(rounds_row)
    assert storage.cell_key(turns_row)[:-1] == storage.cell_key(rounds_row)
    assert storage.cell_key(dict(rounds_row, method=None)) == storage.cell_key(rounds_row)   # older rows


def test_the_turn_times_column_is_appended_last(tmp_path):
    assert storage.COLUMNS[-1] == "epoch_s_turns"
    storage.append_row(tmp_path / "runs.csv", row("keras", 1, 3.0, turns=[3.0, 2.5]))
    read = storage.read_rows(tmp_path)[0]
    assert read["epoch_s_turns"] == "3;2.5" and read["method"] == storage.TURNS_METHOD


def test_the_conclusions_keep_each_methods_fused_ratio_and_say_which_is_which():
    """A configuration measured by rounds and by turns gives two fused lines, each naming its
    context in full; before, the turns ratio replaced the rounds one and both read 'cpu, batch
    128'."""
    from report.conclusions import conclusions

    fused = [dict(r, impl="keras", arm="keras-fused", epoch_s_median=r["epoch_s_median"] / 2,
                  epoch_s_turns=r.get("epoch_s_turns") and join_times(
                      [float(t) / 2 for t in r["epoch_s_turns"].split(";")]))
             for r in rows() if r["arm"] == "keras"]
    lines = [line for line in conclusions(rows() + fused) if isinstance(line, str)
             and line.startswith("Fused path")]
    assert len(lines) == 2, lines
    assert "first 256 samples, batch 128" in lines[0] and "by turns" not in lines[0]
    assert "first 256 samples, by turns, batch 128" in lines[1]
    assert all("Keras/Keras fused 2.00x" in line for line in lines)


def test_the_headline_sentences_compare_columns_of_one_method():
    """The batch span and the per-core sentence take columns that differ in the batch (or the
    threads) alone: they once spanned a by-turns column and a by-rounds one, and set a by-turns
    per-core answer against a by-rounds all-cores one."""
    from report import headline

    def pair(batch, ratio, threads=None, turns=False):
        found = []
        for k, wobble in ((1, 1.0), (2, 1.02)):
            keras, gluon = row("keras", k, ratio * wobble), row("gluon", k, 1.0)
            if turns:
                keras, gluon = (row(r["arm"], k, r["epoch_s_median"],
                                    turns=[r["epoch_s_median"]] * 2) for r in (keras, gluon))
            found += [dict(r, batch_size=batch, threads=threads) for r in (keras, gluon)]
        return found

    rows = (pair(128, 2.0) + pair(512, 2.2) + pair(64, 3.0, turns=True)
            + pair(128, 1.5, turns=True) + pair(128, 1.2, threads=1, turns=True))
    said = " ".join(headline.sentences(headline.cells([headline.Sweep("x", rows, "")])))
    assert "from 2.02x (b128) to 2.22x (b512)" in said, said   # not the by-turns b64's 3.03x
    assert "at cpu b128, by turns: per core (1 thread) Keras costs 1.21x" in said, said
    assert "with all cores 1.51x" in said, said   # the by-turns all-cores column, not 2.02x
