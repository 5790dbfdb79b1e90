"""The ratio of one round measured by turns (bench.py --method turns): the one place it is
computed, from the arms' per-turn epoch times (runs.csv's `epoch_s_turns`).

In turn k both arms ran one epoch, seconds apart, so turn k's ratio pairs them:
r_k = numerator_k / denominator_k. The round's ratio is the geometric mean of the r_k (the mean
of their logs, exponentiated), the same estimator the report uses over rounds, so that a
round's ratio and the ratio over rounds are of one kind. The turns of one round are not
independent (one pair of processes, one memory layout, one set of warmed caches), so they give
one observation; the CI runs over rounds (report/ratios.py). The spread of the r_k, shown
beside it, says how much the machine moved between turns.

Pure functions on numbers and rows; no import of the rest of the report.
"""
import math
from statistics import geometric_mean, stdev

TURNS_COLUMN = "epoch_s_turns"


def turn_times(row):
    """A row's epoch time in each turn, in turn order; None for a row not measured by turns."""
    value = row.get(TURNS_COLUMN)
    if value in (None, ""):
        return None
    if isinstance(value, (list, tuple)):
        return [float(v) for v in value]
    return [float(v) for v in str(value).split(";")]


def join_times(seconds):
    """The runs.csv text of per-turn epoch times: ';'-joined, to 0.1 ms as the other columns."""
    return ";".join(f"{round(s, 4):g}" for s in seconds)


def turn_ratios(numerator_times, denominator_times):
    """(per-turn ratios, their geometric mean) of two arms' epoch times of the same turns.

    Turns pair by position; two rows of one round always have the same turns, since a round
    that lost an arm ends for all of them (sweep/turns.py)."""
    if len(numerator_times) != len(denominator_times) or not numerator_times:
        raise ValueError(f"turns do not pair: {len(numerator_times)} against "
                         f"{len(denominator_times)}")
    ratios = [n / d for n, d in zip(numerator_times, denominator_times)]
    return ratios, geometric_mean(ratios)


def turn_spread(ratios):
    """The turn-to-turn spread of per-turn ratios: exp(sd of their logs) - 1, a relative
    figure like a coefficient of variation (0.03: turns typically 3% off the round's ratio);
    None below two turns."""
    return math.exp(stdev(map(math.log, ratios))) - 1 if len(ratios) >= 2 else None


def _of_turns(numerator_row, denominator_row):
    """turn_ratios of two arms' rows of one round; None unless both were measured by turns."""
    numerator, denominator = turn_times(numerator_row), turn_times(denominator_row)
    return turn_ratios(numerator, denominator) if numerator and denominator else None


def round_ratio(numerator_row, denominator_row):
    """The ratio of two arms' rows of one round: by turns when both were measured by turns,
    else (rounds) the ratio of their median epoch times, as before turns."""
    turns = _of_turns(numerator_row, denominator_row)
    return turns[1] if turns else (numerator_row["epoch_s_median"]
                                   / denominator_row["epoch_s_median"])


def round_spread(numerator_row, denominator_row):
    """The turn-to-turn spread of two arms' rows of one round; None unless both are turns rows."""
    turns = _of_turns(numerator_row, denominator_row)
    return turn_spread(turns[0]) if turns else None
