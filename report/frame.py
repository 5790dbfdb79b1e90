"""The report's one row model: a folder's runs.csv rows as a pandas DataFrame, normalized once
(as_frame: its comments say each rule). Every table, ratio, conclusion and plot of the report is
a groupby of this frame over the keys defined here, so "a configuration" means the same thing
everywhere. The columns stay Python objects (dtype=object): a blank is None, an int stays an
int, and the text the report writes from a value is the text it wrote before the frame existed.
"""
import functools
from statistics import median

import pandas as pd

from cell.arms import FUSED, is_control
import shim.fused   # cheap: no keras, no mxnet; read at each call (tests put a fake in place)

from report.storage import COLUMNS, TURNS_METHOD, method_of

# The rows that share a table: every arm, every batch size. Two prefixes, two dtypes, real and
# synthetic data, two thread settings, two versions of a --model file or two timing methods
# (turns and rounds) never share one.
GROUP = ["scenario", "ctx", "workers", "data", "dtype", "samples", "threads", "model_sha256",
         "by_turns"]
# A configuration: the rows whose arms are compared with each other, round by round.
LINE = GROUP + ["batch_size"]
# One measured cell: a configuration's arm in one round (report.storage.cell_key, normalized).
CELL = LINE + ["arm", "round"]


def _filled(column, default):
    return column.where(column.notna(), default)


def as_frame(rows):
    """The normalized frame of runs.csv rows (report.storage.read_rows's dicts); a frame is
    returned as it is, so every function of the report takes either."""
    if isinstance(rows, pd.DataFrame):
        return rows
    rows = list(rows)
    if rows and "before_rounds" in rows[0]:   # records() of a frame: normalized already
        return pd.DataFrame(rows, dtype=object)
    extra = sorted({k for r in rows for k in r} - set(COLUMNS))
    frame = pd.DataFrame(rows, columns=COLUMNS + extra, dtype=object)
    frame = frame.astype(object).where(frame.notna(), None)
    # Rows from before rounds have their repeat for a round; rows from before arms their impl.
    frame["before_rounds"] = frame["round"].isna()
    frame["round"] = _filled(frame["round"], frame["repeat"])
    frame["arm"] = _filled(frame["arm"], frame["impl"])
    # Plain keras-fused is every fix of its day: a row that asked for another set than today's
    # (a fix added or dropped since) is an arm of its own, never pooled with today's rows.
    every = "+".join(shim.fused.FIXES)
    stale = (frame["arm"] == FUSED) & frame["fixes"].notna() & (frame["fixes"] != every)
    frame.loc[stale, "arm"] = FUSED + ":" + frame.loc[stale, "fixes"]
    # Blanks are what rows from before each column ran with: one worker (no parameter server),
    # real data, float32, the whole training set (samples 0), every core, a built-in scenario.
    for column, default in (("workers", 1), ("data", "real"), ("dtype", "float32"),
                            ("model_sha256", "")):
        frame[column] = _filled(frame[column], default)
    frame["samples"] = _filled(frame["max_samples"], 0).map(int)
    frame["threads"] = _filled(frame["threads"], "all").map(str)
    frame["method"] = [method_of(r) for r in rows]
    frame["by_turns"] = (frame["method"] == TURNS_METHOD).astype(bool)
    frame["profiled"] = frame["profiled"].map(bool).astype(bool)
    frame["before_rounds"] = frame["before_rounds"].astype(bool)
    return frame


def records(frame):
    """The frame's rows as dicts (None for blanks), for code that formats one row at a time."""
    # One conversion of the whole frame (numpy gives Python bools and ints as object): taking a
    # column at a time, or itertuples, indexes each column of each view anew (most of the time).
    columns = list(frame.columns)
    return [dict(zip(columns, row)) for row in frame.to_numpy(dtype=object).tolist()]


def once_per_frame(view):
    """`view(frame)` computed once per frame object: the page, the plots and the headline of a
    folder all take the same views of its one frame (a frame is never changed in place)."""
    cache = {}

    @functools.wraps(view)
    def cached(rows):
        if not isinstance(rows, pd.DataFrame):
            return view(as_frame(rows))
        hit = cache.get(id(rows))
        if hit is None or hit[0] is not rows:
            hit = cache[id(rows)] = (rows, view(rows))   # the frame kept: its id is not reused
        return hit[1]
    return cached


@once_per_frame
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


@once_per_frame
def failed(rows):
    """Failed cells that no row completed."""
    frame = as_frame(rows)
    done = pd.MultiIndex.from_frame(frame.loc[frame["status"] == "ok", CELL])
    return frame[(frame["status"] != "ok") & ~pd.MultiIndex.from_frame(frame[CELL]).isin(done)]


@once_per_frame
def lines(rows):
    """[(group, batch_size, {arm: [row dicts over rounds]})] of the finished cells, sorted by
    configuration; group is a tuple of GROUP's values."""
    by_line = {}
    for row in records(finished(rows)):
        by_line.setdefault(tuple(row[k] for k in LINE), {}).setdefault(row["arm"], []).append(row)
    return [(key[:-1], key[-1], by_arm) for key, by_arm in sorted(by_line.items())]


def median_of(rows, column):
    values = [row[column] for row in rows if row.get(column) is not None]
    return median(values) if values else None


def per_device_batch(row):
    if row.get("per_device_batch"):
        return row["per_device_batch"]
    return row["batch_size"] // ((row.get("devices") or 1) * row["workers"])


def without_controls(rows):
    """The arms of an implementation's own: the A/A control (Gluon run twice) left out."""
    frame = as_frame(rows)
    return frame[~frame["arm"].map(is_control).astype(bool)]   # an empty mask stays boolean


def grouped(items, by):
    """[(key, [items])]: dicts (rows, ratios) grouped by the values of the keys `by` (a list:
    key is a tuple), a DataFrame groupby, sorted by key; each group's items in their order."""
    items = list(items)
    if not items:
        return []
    table = pd.DataFrame({name: [item[name] for item in items] for name in by}, dtype=object)
    return [(key, [items[i] for i in part.index])
            for key, part in table.groupby(by, sort=True, dropna=False)]
