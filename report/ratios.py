"""Paired epoch-time ratios over rounds, with a 95% confidence interval: the one place they are
computed. summary.md, results/README.md, the overhead plot, ratios.csv and bench.py's adaptive
rounds all take their ratios from `paired_ratios`.

A round runs every arm of a configuration once, back to back, in a shuffled order (bench.py), so
the arms of one round saw about the same machine. The per-round ratio is the numerator arm's
median epoch time over the denominator arm's in that round; in a round measured by turns
(bench.py --method turns), the geometric mean of its per-turn ratios (report/turn_ratios.py,
with their spread: `turn_spread`, the median over rounds). Over rounds:

- ratio: the geometric mean of the per-round ratios (the mean of their logs, exponentiated);
- CI: a Student t-interval on the log ratios, mean +- t(0.975, n-1) * sd / sqrt(n),
  exponentiated, so it is a CI for the geometric mean and never goes below 0;
- half_width: exp(t * sd / sqrt(n)) - 1, the relative distance from the ratio to the upper
  bound (the lower one is slightly nearer); this is what --target-ci is compared with.
- outliers: a per-round log ratio whose modified z-score (Iglewicz & Hoaglin:
  0.6745 * (x - median) / MAD) exceeds 3.5. It is flagged, never dropped.

Rows written before rounds existed have no `round`: their `repeat` stands in (those repeats ran
in a fixed keras-then-gluon order), and the result says `before_rounds`. Rows with no repeat
number at all cannot be paired: the ratio is the ratio of medians, without a CI.
"""
import math
from pathlib import Path
from statistics import median

from scipy import stats

from cell import arms
from report import frame
from report.runs import replace_csv
from report.turn_ratios import round_ratio, round_spread

CI_LEVEL = 0.95
OUTLIER_Z = 3.5
RATIOS_FILE = "ratios.csv"
RATIOS_COLUMNS = ["scenario", "ctx", "workers", "kvstore", "batch_size", "dtype", "max_samples",
                  "numerator", "denominator", "rounds", "ratio", "ci_low", "ci_high", "ci_level",
                  "half_width", "unstable", "threads", "method", "turn_spread"]

# Every ratio the project reports, (numerator arm, denominator arm), is declared with its arm in
# the registry (cell/arms.py); a pair is shown wherever both arms ran.
PAIRS = arms.PAIRS
FUSED = arms.FUSED
is_fix_arm, fixes_of_arm, fix_pairs, pairs_for = (arms.is_fix_arm, arms.fixes_of_arm,
                                                  arms.fix_pairs, arms.pairs_for)
is_control = arms.is_control


def modified_z_scores(values):
    """Iglewicz & Hoaglin's modified z-scores; all 0 when the MAD is 0."""
    centre = median(values)
    mad = median(abs(v - centre) for v in values)
    if mad == 0:
        return [0.0 for _ in values]
    return [0.6745 * (v - centre) / mad for v in values]


def interval(per_round, level=CI_LEVEL):
    """(ratio, ci_low, ci_high, half_width) from per-round ratios; the CI is None below 2."""
    logs = [math.log(r) for r in per_round]
    n = len(logs)
    mean = sum(logs) / n
    if n < 2:
        return math.exp(mean), None, None, None
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half), math.exp(half) - 1


def pair_stats(numerator_rows, denominator_rows, level=CI_LEVEL):
    """The ratio of two arms' rows of one configuration (see the module doc), as a dict."""
    num = {r["round"]: r for r in numerator_rows if r["round"] is not None}
    den = {r["round"]: r for r in denominator_rows if r["round"] is not None}
    common = sorted(set(num) & set(den))
    before = all(r["before_rounds"] for r in numerator_rows + denominator_rows)
    if not common:
        # Not pairable: ratio of medians, no interval.
        ratio = (median(r["epoch_s_median"] for r in numerator_rows)
                 / median(r["epoch_s_median"] for r in denominator_rows))
        return dict(ratio=ratio, ci_low=None, ci_high=None, half_width=None, ci_level=level,
                    n=min(len(numerator_rows), len(denominator_rows)), paired=False,
                    per_round={}, outliers=[], before_rounds=before, turn_spread=None)
    # a round's ratio: of the median epochs, or by turns the mean over its turns (turn_ratios)
    per_round = {k: round_ratio(num[k], den[k]) for k in common}
    spreads = [s for s in (round_spread(num[k], den[k]) for k in common) if s is not None]
    ratio, low, high, half = interval(list(per_round.values()), level)
    z = modified_z_scores([math.log(v) for v in per_round.values()]) if len(common) >= 3 else []
    outliers = [(k, score) for k, score in zip(common, z) if abs(score) > OUTLIER_Z]
    return dict(ratio=ratio, ci_low=low, ci_high=high, half_width=half, ci_level=level,
                n=len(common), paired=True, per_round=per_round, outliers=outliers,
                before_rounds=before, turn_spread=median(spreads) if spreads else None)


def paired_ratios(rows, numerator="keras", denominator="gluon", level=CI_LEVEL, lines=None):
    """One dict per configuration that has both arms, sorted; ratio > 1: numerator slower.

    The dict holds pair_stats's figures, the configuration (report.frame.LINE's columns, and
    `group`: its GROUP tuple), the pair, and the configuration's devices and kvstore.
    `lines`: frame.lines(rows), where the caller has it already."""
    result = []
    for group, batch, by_arm in (frame.lines(rows) if lines is None else lines):
        if numerator not in by_arm or denominator not in by_arm:
            continue
        both = by_arm[numerator] + by_arm[denominator]
        result.append(dict(
            pair_stats(by_arm[numerator], by_arm[denominator], level),
            **dict(zip(frame.GROUP, group)), group=group, batch_size=batch,
            numerator=numerator, denominator=denominator,
            devices=by_arm[numerator][0].get("devices"),
            kvstore=_one(both, "kvstore"), max_samples=group[frame.GROUP.index("samples")] or None))
    return result


def _one(rows, column):
    values = sorted({str(r[column]) for r in rows if r.get(column) not in (None, "")})
    return ";".join(values) or None


def unstable_reason(r, target=None):
    """'' or why a ratio is not to be trusted as it stands: '; '-joined reasons."""
    reasons = []
    if not r["paired"]:
        reasons.append("unpaired: no CI")
    elif r["n"] < 2:
        reasons.append("one round: no CI")
    elif target is not None and r["half_width"] > target:
        reasons.append(f"CI +-{r['half_width']:.0%} > {target:.0%} after {r['n']} rounds")
    for round_number, score in r["outliers"]:
        reasons.append(f"round {round_number} ratio is an outlier (modified z {score:+.1f})")
    return "; ".join(reasons)


def all_pairs(rows, pairs=None):
    """paired_ratios for every pair of `pairs` (default: pairs_for the rows' arms) whose two
    arms ran, in that order per line."""
    rows = frame.as_frame(rows)
    pairs = pairs_for(set(rows["arm"])) if pairs is None else pairs
    lines = frame.lines(rows)
    found = [r for numerator, denominator in pairs
             for r in paired_ratios(rows, numerator, denominator, lines=lines)]
    order = {pair: i for i, pair in enumerate(pairs)}
    return sorted(found, key=lambda r: (r["group"], r["batch_size"],
                                        order[(r["numerator"], r["denominator"])]))


def _text(value, digits=4):
    return "" if value is None else f"{value:.{digits}f}"


def ratios_table(rows, target=None, pairs=None):
    """The rows of ratios.csv (dicts with RATIOS_COLUMNS)."""
    table = []
    for r in all_pairs(rows, pairs):
        table.append(dict(
            scenario=r["scenario"], ctx=r["ctx"], workers=r["workers"], kvstore=r["kvstore"] or "",
            batch_size=r["batch_size"], dtype=r["dtype"], max_samples=r["max_samples"] or "",
            numerator=r["numerator"], denominator=r["denominator"], rounds=r["n"],
            ratio=_text(r["ratio"]), ci_low=_text(r["ci_low"]), ci_high=_text(r["ci_high"]),
            ci_level=r["ci_level"], half_width=_text(r["half_width"]),
            unstable=unstable_reason(r, target), threads=r["threads"],
            method="turns" if r["by_turns"] else "rounds", turn_spread=_text(r["turn_spread"])))
    return table


def write_ratios_csv(out_dir, rows, target=None):
    """(Re)write <out_dir>/ratios.csv from all rows; replaced whole, atomically."""
    path = Path(out_dir) / RATIOS_FILE
    replace_csv(path, RATIOS_COLUMNS, ratios_table(rows, target))
    return path
