"""The report's one row model: a folder's runs.csv rows as a pandas DataFrame, normalized once.

Every table, ratio, conclusion and plot of the report is a groupby of this frame over the keys
defined here, so "a configuration" means the same thing everywhere. The columns stay Python
objects (dtype=object): a blank is None, an int stays an int, and the text the report writes
from a value is the text it wrote before the frame existed.

Normalized columns (the rules that were spread over the report's modules):
- arm: the recorded arm, else (rows from before arms) the implementation;
- round: the recorded round, else (rows from before rounds) the repeat; before_rounds says which;
- workers: 1 for a single, non-distributed process; data: 'real'; dtype: 'float32';
- samples: the --max-samples prefix, 0 for the whole training set;
- threads: 'all' for rows from before --threads; model_sha256: '' for the built-in scenarios;
- method: report.runs.method_of; by_turns: measured by turns (report.runs.TURNS_METHOD);
  profiled: a bool.
"""
import pandas as pd

from report.runs import COLUMNS, TURNS_METHOD, method_of

# The rows that share a table: every arm, every batch size. Two prefixes, two dtypes, real and
# synthetic data, two thread settings, two versions of a --model file or two timing methods
# (turns and rounds) never share one.
GROUP = ["scenario", "ctx", "workers", "data", "dtype", "samples", "threads", "model_sha256",
         "by_turns"]
# A configuration: the rows whose arms are compared with each other, round by round.
LINE = GROUP + ["batch_size"]
# One measured cell: a configuration's arm in one round (report.runs.cell_key, normalized).
CELL = LINE + ["arm", "round"]


def _filled(column, default):
    return column.where(column.notna(), default)


def as_frame(rows):
    """The normalized frame of runs.csv rows (report.runs.read_rows's dicts); a frame is
    returned as it is, so every function of the report takes either."""
    if isinstance(rows, pd.DataFrame):
        return rows
    rows = list(rows)
    if rows and "before_rounds" in rows[0]:   # records() of a frame: normalized already
        return pd.DataFrame(rows, dtype=object)
    extra = sorted({k for r in rows for k in r} - set(COLUMNS))
    frame = pd.DataFrame(rows, columns=COLUMNS + extra, dtype=object)
    frame = frame.astype(object).where(frame.notna(), None)
    frame["before_rounds"] = frame["round"].isna()
    frame["round"] = _filled(frame["round"], frame["repeat"])
    frame["arm"] = _filled(frame["arm"], frame["impl"])
    frame["workers"] = _filled(frame["workers"], 1)
    frame["data"] = _filled(frame["data"], "real")
    frame["dtype"] = _filled(frame["dtype"], "float32")
    frame["samples"] = _filled(frame["max_samples"], 0).map(int)
    frame["threads"] = _filled(frame["threads"], "all").map(str)
    frame["model_sha256"] = _filled(frame["model_sha256"], "")
    frame["method"] = [method_of(r) for r in rows]
    frame["by_turns"] = (frame["method"] == TURNS_METHOD).astype(bool)
    frame["profiled"] = frame["profiled"].map(bool).astype(bool)
    frame["before_rounds"] = frame["before_rounds"].astype(bool)
    return frame


def records(frame):
    """The frame's rows as dicts (None for blanks), for code that formats one row at a time."""
    columns = list(frame.columns)   # faster than to_dict("records") on object columns
    return [dict(zip(columns, row)) for row in frame.itertuples(index=False, name=None)]


def finished(rows):
    """Finished, unprofiled cells; a cell measured twice (a re-run) keeps its last row.

    Rows with no round or repeat cannot be told apart from other rounds: all are kept.
    Profiled cells (`bench.py --profile`) time the profiler too: they feed report.operators
    only, never a throughput table or ratio.
    """
    frame = as_frame(rows)
    done = frame[(frame["status"] == "ok") & ~frame["profiled"]]
    numbered = done["round"].notna()
    latest = done[numbered].drop_duplicates(CELL, keep="last")
    return pd.concat([latest, done[~numbered]]).sort_index()


def failed(rows):
    """Failed cells that no row completed."""
    frame = as_frame(rows)
    done = pd.MultiIndex.from_frame(frame.loc[frame["status"] == "ok", CELL])
    return frame[(frame["status"] != "ok") & ~pd.MultiIndex.from_frame(frame[CELL]).isin(done)]


def lines(rows):
    """[(group, batch_size, {arm: [row dicts over rounds]})] of the finished cells, sorted by
    configuration; group is a tuple of GROUP's values."""
    done = finished(rows)
    found = []
    for key, line in done.groupby(LINE, sort=True, dropna=False):
        by_arm = {arm: records(part) for arm, part in line.groupby("arm", sort=False)}
        found.append((tuple(key[:-1]), key[-1], by_arm))
    return found


def without_controls(rows):
    """The arms of an implementation's own: the A/A control (Gluon run twice) left out."""
    frame = as_frame(rows)
    return frame[~frame["arm"].map(lambda arm: arm.endswith("-control"))]


def grouped(items, by):
    """[(key, [items])]: dicts (rows, ratios) grouped by the values of the keys `by` (a list:
    key is a tuple), a DataFrame groupby, sorted by key; each group's items in their order."""
    items = list(items)
    if not items:
        return []
    table = pd.DataFrame({name: [item[name] for item in items] for name in by}, dtype=object)
    return [(key, [items[i] for i in part.index])
            for key, part in table.groupby(by, sort=True, dropna=False)]
