"""The fix ablation of summary.md: each fix's share of what the fused path (shim/fused/) gives
back, and whether the shares account for all of it.

Shares (keras/keras-fused:X) and the whole (keras/keras-fused) are ratios paired by round. Two
predictions of the whole from the single-fix arms, per round over the rounds they all ran:
compounding, the product of the shares, exact when each fix removes a fraction of whatever time
is left (as the OpenMP team of `copies` slows every operator); adding, 1 / (1 - the sum of the
saved fractions 1 - 1/share), exact when each fix removes a part of the step of its own (as
`bias` and `rnn`: two fixes that each save 30% compound to 2.04x, where together they give
2.5x). A prediction accounts for the whole when it lies within its CI.

Fixes interact (on the CNN-LSTM the 1-D layers' cost only shows once the LSTM is fused), so the
single-fix shares need not account for the whole. The cumulative ablation does by construction:
with arms that add one fix at a time up to keras-fused, each step's share is the previous arm
over the next, and per round the steps multiply to keras/keras-fused exactly. Its shares depend
on the order in which the fixes are added.
"""
import math

from cell.arms import FUSED, fix_pairs, fixes_of_arm
from report import frame
from report.names import context_label, impl_name, table
from report.ratios import Ratio, one_of


def _over_common_rounds(ratios, combine):
    """A Ratio of combine([each ratio's per-round value]) per round they all ran; None if none."""
    rounds = set.intersection(*(set(r.per_round) for r in ratios)) if ratios else set()
    per_round = {k: combine([r.per_round[k] for r in ratios]) for k in sorted(rounds, key=str)}
    per_round = {k: v for k, v in per_round.items() if v is not None}
    return Ratio(per_round) if per_round and len(per_round) == len(rounds) else None


def _adding(shares):
    saved = sum(1 - 1 / s for s in shares)
    return 1 / (1 - saved) if saved < 1 else None   # all of the step saved and more: no ratio


def _within(prediction, whole):
    """Whether a prediction's estimate lies within the whole's CI; None when either is missing."""
    if not prediction or not whole or whole.ci_low is None:
        return None
    return whole.ci_low <= prediction.ratio <= whole.ci_high


def ablation(rows):
    """One dict per configuration with keras and a fix arm: its shares ({arm: Ratio}), whole,
    predictions and whether each is within the whole's CI. The single fixes a prediction covers
    are named beside the whole's, so that one which lacks a fix is not read as the whole."""
    found = []
    for group, batch, by_arm in frame.lines(rows):
        arms = [arm for _, arm in fix_pairs(by_arm)]
        if "keras" not in by_arm or not arms:
            continue
        shares = {arm: Ratio.of(by_arm["keras"], by_arm[arm]) for arm in arms}
        whole = Ratio.of(by_arm["keras"], by_arm[FUSED]) if FUSED in by_arm else None
        singles = [arm for arm in arms if len(fixes_of_arm(arm)) == 1]
        compounding = _over_common_rounds([shares[a] for a in singles], math.prod)
        adding = _over_common_rounds([shares[a] for a in singles], _adding)
        found.append(dict(group=group, batch_size=batch, shares=shares, whole=whole,
                          whole_fixes=one_of(by_arm[FUSED], "fixes") if FUSED in by_arm else None,
                          covers=[fixes_of_arm(a)[0] for a in singles],
                          compounding=compounding, adding=adding,
                          compounding_within=_within(compounding, whole),
                          adding_within=_within(adding, whole)))
    return found


def ablation_markdown(rows):
    """The ablation table of summary.md: '' without a fix arm next to keras."""
    found = ablation(rows)
    arms = sorted({arm for entry in found for arm in entry["shares"]},
                  key=lambda a: (len(fixes_of_arm(a)), a))
    shown = []
    for entry in found:
        covers = ", ".join(entry["covers"]) or "no single fix"
        whole = f"{entry['whole']} ({entry['whole_fixes'] or '?'})" if entry["whole"] else "—"
        shown.append([entry["group"][0], context_label(*entry["group"][1:]), entry["batch_size"]]
                     + [str(entry["shares"].get(a, "—")) for a in arms] + [whole]
                     + [value for way in ("compounding", "adding") for value in (
                         f"{entry[way]} ({covers})" if entry[way] else "—",
                         {None: "—", True: "yes", False: "no"}[entry[way + "_within"]])])
    return table(["scenario", "context", "batch"] + [f"Keras/{impl_name(arm)}" for arm in arms]
                 + ["Keras/Keras fused (its fixes)", "product of the single-fix shares",
                    "within the whole's CI", "adding the saved fractions",
                    "within the whole's CI"], shown) if found else ""


def cumulative(rows):
    """One dict per configuration whose fix arms add one fix at a time up to keras-fused:
    'group', 'batch_size', 'steps' ([(fix added, Ratio of previous arm / next arm)]),
    'product' (a Ratio, per round over the rounds every step ran) and 'whole'."""
    found = []
    for group, batch, by_arm in frame.lines(rows):
        if "keras" not in by_arm or FUSED not in by_arm:
            continue
        every = fixes_of_arm(FUSED + ":" + (one_of(by_arm[FUSED], "fixes") or ""))
        chain = ["keras"]
        for size in range(1, len(every)):
            bigger = [a for a in by_arm if len(fixes_of_arm(a)) == size
                      and set(fixes_of_arm(chain[-1])) < set(fixes_of_arm(a))]
            if len(bigger) != 1:
                break
            chain.append(bigger[0])
        if len(chain) != len(every):  # not a whole chain of one-fix steps
            continue
        chain.append(FUSED)
        steps = [("+".join(sorted(set(every if after == FUSED else fixes_of_arm(after))
                                  - set(fixes_of_arm(before)))),
                  Ratio.of(by_arm[before], by_arm[after]))
                 for before, after in zip(chain, chain[1:])]
        rounds = set.intersection(*(set(step.per_round) for _, step in steps))
        product = {k: math.prod(step.per_round[k] for _, step in steps) for k in rounds}
        found.append(dict(group=group, batch_size=batch, steps=steps,
                          product=Ratio(product) if product else None,
                          whole=Ratio.of(by_arm["keras"], by_arm[FUSED])))
    return found


def cumulative_markdown(rows):
    """The cumulative ablation table of summary.md: '' without a chain of fix arms."""
    shown = [[entry["group"][0], context_label(*entry["group"][1:]), entry["batch_size"],
              ", then ".join(f"+{fix} {r}" for fix, r in entry["steps"]),
              str(entry["product"]), str(entry["whole"])] for entry in cumulative(rows)]
    return table(["scenario", "context", "batch", "each step's share (the fix it adds)",
                  "product of the steps", "Keras/Keras fused"], shown) if shown else ""
