"""Paired epoch-time ratios over rounds, with a 95% confidence interval: the one place they are
computed. summary.md, results/README.md, the overhead plot, ratios.csv and bench.py's adaptive
rounds all take their ratios from `paired_ratios`.

A round runs every arm of a configuration once, back to back, in a shuffled order (bench.py), so
the arms of one round saw about the same machine. The per-round ratio is the numerator arm's
median epoch time over the denominator arm's in that round. Over rounds:

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

from report.runs import data_of, dtype_of, replace_csv, samples_of, workers_of

CI_LEVEL = 0.95
OUTLIER_Z = 3.5
RATIOS_FILE = "ratios.csv"
RATIOS_COLUMNS = ["scenario", "ctx", "workers", "kvstore", "batch_size", "dtype", "max_samples",
                  "numerator", "denominator", "rounds", "ratio", "ci_low", "ci_high", "ci_level",
                  "half_width", "unstable"]

# (numerator arm, denominator arm): every ratio the project reports. A pair is shown wherever
# both arms ran. Add a line here for a new arm (e.g. ("keras", "keras-graph")).
PAIRS = [
    ("keras", "gluon"),           # the question: what the Keras API costs
    ("torch", "gluon"),           # the yardstick
    ("gluon-control", "gluon"),   # A/A: the same Gluon cell twice, the noise floor
    ("keras", "keras-graph"),     # the cost of Keras's loop and API (report.operators)
    ("keras-graph", "gluon"),     # the cost of Keras's graph
    ("keras", "keras-fused"),     # what the fused path (shim/fused/) gives a Keras user back
    ("keras-fused", "gluon"),     # what remains of Keras's cost with it
]
CONTROL_SUFFIX = "-control"
FUSED = "keras-fused"


def is_fix_arm(arm):
    """A keras-fused arm with some of the fixes: keras-fused:bias, keras-fused:bias+rnn."""
    return arm.startswith(FUSED + ":")


def fixes_of_arm(arm):
    """('bias', 'rnn') for keras-fused:bias+rnn; () for any other arm. The arm's name carries
    its fixes (bench.py names fused arms so), and the report reads no library to know them."""
    return tuple(arm.partition(":")[2].split("+")) if is_fix_arm(arm) else ()


def fix_pairs(arms):
    """keras/keras-fused:X for each fix arm among `arms`: fix X's share of what the fused path
    gives back. Single fixes first, then combinations, each by name."""
    found = sorted((a for a in arms if is_fix_arm(a)), key=lambda a: (len(fixes_of_arm(a)), a))
    return [("keras", arm) for arm in found]


def pairs_for(arms):
    """PAIRS, then the fix shares of the fix arms among `arms` (which cannot be listed ahead:
    any combination of fixes is an arm)."""
    return PAIRS + fix_pairs(arms)


def arm_of(row):
    """The arm a row measured: its `arm`, else (rows from before arms) its implementation."""
    return row.get("arm") or row["impl"]


def is_control(row):
    return arm_of(row).endswith(CONTROL_SUFFIX)


def round_of(row):
    """The round of a row; rows from before rounds use their repeat number."""
    return row.get("round") if row.get("round") is not None else row.get("repeat")


def line_key(row):
    """A configuration: the rows whose arms are compared with each other."""
    return ((row["scenario"], row["ctx"], workers_of(row), data_of(row), dtype_of(row),
             samples_of(row)), row["batch_size"])


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
    num = {round_of(r): r["epoch_s_median"] for r in numerator_rows if round_of(r) is not None}
    den = {round_of(r): r["epoch_s_median"] for r in denominator_rows if round_of(r) is not None}
    common = sorted(set(num) & set(den))
    before = not any(r.get("round") is not None for r in numerator_rows + denominator_rows)
    if not common:
        # Not pairable: ratio of medians, no interval.
        ratio = (median(r["epoch_s_median"] for r in numerator_rows)
                 / median(r["epoch_s_median"] for r in denominator_rows))
        return dict(ratio=ratio, ci_low=None, ci_high=None, half_width=None, ci_level=level,
                    n=min(len(numerator_rows), len(denominator_rows)), paired=False,
                    per_round={}, outliers=[], before_rounds=before)
    per_round = {k: num[k] / den[k] for k in common}
    ratio, low, high, half = interval(list(per_round.values()), level)
    z = modified_z_scores([math.log(v) for v in per_round.values()]) if len(common) >= 3 else []
    outliers = [(k, score) for k, score in zip(common, z) if abs(score) > OUTLIER_Z]
    return dict(ratio=ratio, ci_low=low, ci_high=high, half_width=half, ci_level=level,
                n=len(common), paired=True, per_round=per_round, outliers=outliers,
                before_rounds=before)


def _lines(rows):
    """{line_key: {arm: [finished rows]}}; the last row of a repeated cell wins."""
    from report.summary import ok_rows   # summary imports this module

    lines = {}
    for row in ok_rows(rows):
        lines.setdefault(line_key(row), {}).setdefault(arm_of(row), []).append(row)
    return lines


def paired_ratios(rows, numerator="keras", denominator="gluon", level=CI_LEVEL):
    """One dict per configuration that has both arms, sorted; ratio > 1: numerator slower."""
    result = []
    for ((scenario, ctx, workers, data, dtype, samples), batch), by_arm in sorted(
            _lines(rows).items()):
        if numerator not in by_arm or denominator not in by_arm:
            continue
        both = by_arm[numerator] + by_arm[denominator]
        result.append(dict(
            pair_stats(by_arm[numerator], by_arm[denominator], level),
            scenario=scenario, ctx=ctx, workers=workers, batch_size=batch, data=data,
            dtype=dtype, numerator=numerator, denominator=denominator,
            devices=by_arm[numerator][0].get("devices"),
            kvstore=_one(both, "kvstore"), max_samples=samples or None, samples=samples))
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
    pairs = pairs_for({arm_of(r) for r in rows}) if pairs is None else pairs
    found = [r for numerator, denominator in pairs
             for r in paired_ratios(rows, numerator, denominator)]
    order = {pair: i for i, pair in enumerate(pairs)}
    return sorted(found, key=lambda r: (r["scenario"], r["ctx"], r["workers"], r["data"],
                                        r["dtype"], r["samples"], r["batch_size"],
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
            unstable=unstable_reason(r, target)))
    return table


def write_ratios_csv(out_dir, rows, target=None):
    """(Re)write <out_dir>/ratios.csv from all rows; replaced whole, atomically."""
    path = Path(out_dir) / RATIOS_FILE
    replace_csv(path, RATIOS_COLUMNS, ratios_table(rows, target))
    return path


def format_ratio(r):
    """'1.23x (95% CI 1.20–1.31, n=5)'; says so when there is no CI."""
    head = f"{r['ratio']:.2f}x"
    if not r["paired"]:
        return f"{head} (unpaired, n={r['n']}, no CI)"
    if r["ci_low"] is None:
        return f"{head} (n={r['n']}, no CI)"
    return f"{head} ({r['ci_level']:.0%} CI {r['ci_low']:.2f}–{r['ci_high']:.2f}, n={r['n']})"


def format_floor(r):
    """The A/A noise floor: '±2.6% (A/A 1.01x, 95% CI 0.98–1.03, n=5)'."""
    if r["half_width"] is None:
        return f"unknown (A/A {format_ratio(r)})"
    return (f"±{r['half_width']:.1%} (A/A {r['ratio']:.2f}x, CI {r['ci_low']:.2f}–"
            f"{r['ci_high']:.2f}, n={r['n']})")
