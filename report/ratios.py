"""Paired epoch-time ratios over rounds with a 95% CI: the one place they are computed (`Ratio`),
for summary.md, results/README.md, the plots, ratios.csv and bench.py's adaptive rounds.

A round runs every arm of a configuration once, back to back, in a shuffled order, so the arms
of one round saw about the same machine. A round's ratio is the numerator arm's median epoch time
over the denominator's; by turns (bench.py --method turns) it is the geometric mean of the
per-turn ratios r_k = numerator_k / denominator_k, turn k's two epochs having run seconds apart.
The turns of one round are not independent (one pair of processes, one memory layout), so they
give one observation; the CI runs over rounds, and the turns' spread is shown beside it. Over
rounds: the geometric mean; a Student t-interval on the logs, exponentiated (never below 0);
half_width exp(t * sd / sqrt(n)) - 1, which --target-ci is compared with; outliers, a log ratio
whose modified z-score (Iglewicz & Hoaglin) exceeds 3.5, flagged, never dropped.
Rows from before rounds pair by their `repeat` and say `before_rounds`; rows with no repeat at
all cannot pair: the ratio of medians, without a CI.
"""
import math
from pathlib import Path
from statistics import geometric_mean, median, stdev

from scipy import stats

from cell import arms
from report import frame
from report.storage import replace_csv, turn_times

CI_LEVEL = 0.95
OUTLIER_Z = 3.5
RATIOS_FILE = "ratios.csv"
RATIOS_COLUMNS = ["scenario", "ctx", "workers", "kvstore", "batch_size", "dtype", "max_samples",
                  "numerator", "denominator", "rounds", "ratio", "ci_low", "ci_high", "ci_level",
                  "half_width", "unstable", "threads", "method", "turn_spread"]


def turn_ratios(numerator_times, denominator_times):
    """(per-turn ratios, their geometric mean) of two arms' epoch times of the same turns; turns
    pair by position (a round that lost an arm ends for all of them, sweep/turns.py)."""
    if len(numerator_times) != len(denominator_times) or not numerator_times:
        raise ValueError(f"turns do not pair: {len(numerator_times)} against "
                         f"{len(denominator_times)}")
    ratios = [n / d for n, d in zip(numerator_times, denominator_times)]
    return ratios, geometric_mean(ratios)


def turn_spread(ratios):
    """exp(sd of the per-turn ratios' logs) - 1 (0.03: turns typically 3% off the round's
    ratio); None below two turns."""
    return math.exp(stdev(map(math.log, ratios))) - 1 if len(ratios) >= 2 else None


def _of_turns(numerator_row, denominator_row):
    numerator, denominator = turn_times(numerator_row), turn_times(denominator_row)
    return turn_ratios(numerator, denominator) if numerator and denominator else None


def round_ratio(numerator_row, denominator_row):
    """Two arms' ratio in one round: by turns when both rows were, else of their medians."""
    turns = _of_turns(numerator_row, denominator_row)
    return turns[1] if turns else (numerator_row["epoch_s_median"]
                                   / denominator_row["epoch_s_median"])


class Ratio:
    """numerator/denominator epoch time of one configuration over rounds, which formats itself as
    pyperf's comparison does: str() '1.23x (95% CI 1.20–1.31, n=5)', cell() '1.23x (1.20-1.31)',
    factor() '1.23x (1.20–1.31)', floor() '±2.6% (A/A ...)'. Its configuration's fields
    (frame.LINE's, group, devices, kvstore) read as attributes or items."""

    def __init__(self, per_round, n=None, paired=True, of_medians=None, before_rounds=False,
                 numerator="", denominator="", where=None, turn_spread=None):
        self.per_round, self.paired, self.before_rounds = per_round, paired, before_rounds
        self.turn_spread = turn_spread   # by turns: the median over rounds of the turns' spread
        self.numerator, self.denominator, self.where = numerator, denominator, where or {}
        self.n = len(per_round) if n is None else n
        self.ci_level, self.ci_low, self.ci_high, self.half_width = CI_LEVEL, None, None, None
        self.outliers = []
        if not per_round:   # unpaired: the ratio of medians
            self.ratio = of_medians
            return
        logs = [math.log(r) for r in per_round.values()]
        mean = sum(logs) / len(logs)
        self.ratio = math.exp(mean)
        if len(logs) >= 2:
            sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (len(logs) - 1))
            half = stats.t.ppf(0.5 + CI_LEVEL / 2, len(logs) - 1) * sd / math.sqrt(len(logs))
            self.ci_low, self.ci_high = math.exp(mean - half), math.exp(mean + half)
            self.half_width = math.exp(half) - 1
        if len(logs) >= 3:
            centre = median(logs)
            mad = median(abs(x - centre) for x in logs)
            scores = [0.6745 * (x - centre) / mad if mad else 0.0 for x in logs]
            self.outliers = [(k, z) for k, z in zip(per_round, scores) if abs(z) > OUTLIER_Z]

    @classmethod
    def of(cls, numerator_rows, denominator_rows, **where):
        """The ratio of two arms' rows (frame row dicts) of one configuration."""
        num = {r["round"]: r for r in numerator_rows if r["round"] is not None}
        den = {r["round"]: r for r in denominator_rows if r["round"] is not None}
        common = sorted(set(num) & set(den))
        before = all(r["before_rounds"] for r in numerator_rows + denominator_rows)
        if common:
            turns = [_of_turns(num[k], den[k]) for k in common]
            spreads = [s for s in (turn_spread(t[0]) for t in turns if t) if s is not None]
            return cls({k: round_ratio(num[k], den[k]) for k in common}, before_rounds=before,
                       turn_spread=median(spreads) if spreads else None, **where)
        medians = (median(r["epoch_s_median"] for r in numerator_rows)
                   / median(r["epoch_s_median"] for r in denominator_rows))
        return cls({}, n=min(len(numerator_rows), len(denominator_rows)), paired=False,
                   of_medians=medians, before_rounds=before, **where)

    def over(self, rounds):
        """The same ratio over some of its rounds only."""
        return Ratio({k: self.per_round[k] for k in rounds})

    def __getattr__(self, name):
        try:
            return self.__dict__["where"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name):
        return getattr(self, name)

    def _ci(self, dash="–"):
        return f"{self.ci_low:.2f}{dash}{self.ci_high:.2f}"

    def __str__(self):
        if not self.paired:
            return f"{self.ratio:.2f}x (unpaired, n={self.n}, no CI)"
        if self.ci_low is None:
            return f"{self.ratio:.2f}x (n={self.n}, no CI)"
        return f"{self.ratio:.2f}x ({self.ci_level:.0%} CI {self._ci()}, n={self.n})"

    def cell(self):
        if self.ci_low is None:
            return f"{self.ratio:.2f}x (n={self.n})"
        return f"{self.ratio:.2f}x ({self._ci('-')})"

    def factor(self):
        return f"{self.ratio:.2f}x" + (f" ({self._ci()})" if self.n >= 2 else "")

    def floor(self):
        """The A/A noise floor: the CI's relative half-width."""
        if self.half_width is None:
            return f"unknown (A/A {self})"
        return f"±{self.half_width:.1%} (A/A {self.ratio:.2f}x, CI {self._ci()}, n={self.n})"

    def unstable(self, target=None):
        """'' or why the ratio is not to be trusted as it stands: '; '-joined reasons."""
        reasons = []
        if not self.paired:
            reasons.append("unpaired: no CI")
        elif self.n < 2:
            reasons.append("one round: no CI")
        elif target is not None and self.half_width > target:
            reasons.append(f"CI +-{self.half_width:.0%} > {target:.0%} after {self.n} rounds")
        for round_number, score in self.outliers:
            reasons.append(f"round {round_number} ratio is an outlier (modified z {score:+.1f})")
        return "; ".join(reasons)


def one_of(rows, column):
    """The ';'-joined values of a column over rows, or None."""
    values = sorted({str(r[column]) for r in rows if r.get(column) not in (None, "")})
    return ";".join(values) or None


def paired_ratios(rows, numerator="keras", denominator="gluon"):
    """A Ratio per configuration that has both arms, sorted; ratio > 1: numerator slower."""
    return all_pairs(rows, [(numerator, denominator)])


def all_pairs(rows, pairs=None):
    """A Ratio for every pair of `pairs` (default: every pair the registry declares for the rows'
    arms, cell/arms.py) whose two arms ran, by configuration, then in the order of `pairs`."""
    rows = frame.as_frame(rows)
    pairs = arms.pairs_for(set(rows["arm"])) if pairs is None else pairs
    found = []
    for group, batch, by_arm in frame.lines(rows):
        for numerator, denominator in pairs:
            if numerator in by_arm and denominator in by_arm:
                both = by_arm[numerator] + by_arm[denominator]
                where = dict(zip(frame.GROUP, group), group=group, batch_size=batch,
                             devices=by_arm[numerator][0].get("devices"),
                             kvstore=one_of(both, "kvstore"), max_samples=group[5] or None)
                found.append(Ratio.of(by_arm[numerator], by_arm[denominator],
                                      numerator=numerator, denominator=denominator, where=where))
    return found


def _text(value, digits=4):
    return "" if value is None else f"{value:.{digits}f}"


def ratios_table(rows, target=None, pairs=None):
    """The rows of ratios.csv (dicts with RATIOS_COLUMNS)."""
    return [dict(scenario=r.scenario, ctx=r.ctx, workers=r.workers, kvstore=r.kvstore or "",
                 batch_size=r.batch_size, dtype=r.dtype, max_samples=r.max_samples or "",
                 numerator=r.numerator, denominator=r.denominator, rounds=r.n,
                 ratio=_text(r.ratio), ci_low=_text(r.ci_low), ci_high=_text(r.ci_high),
                 ci_level=r.ci_level, half_width=_text(r.half_width),
                 unstable=r.unstable(target), threads=r.threads,
                 method="turns" if r.by_turns else "rounds", turn_spread=_text(r.turn_spread))
            for r in all_pairs(rows, pairs)]


def write_ratios_csv(out_dir, rows, target=None):
    """(Re)write <out_dir>/ratios.csv from all rows; replaced whole, atomically."""
    path = Path(out_dir) / RATIOS_FILE
    replace_csv(path, RATIOS_COLUMNS, ratios_table(rows, target))
    return path
