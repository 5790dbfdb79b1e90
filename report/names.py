"""How the report names and formats things: arms, contexts, ratios, rates. One place, so that a
table, a conclusion, a plot's legend and the headline say a thing the same way."""
from cell import arms

# the selectable arms in display order (cell/arms.py); a control is shown with its pair
IMPL_ORDER = arms.ordered(arms.SELECTABLE + (arms.FUSED,))
impl_name = arms.label


def threads_label(threads):
    """'' for the default share of the cores; ', 1 thread' for --threads 1."""
    if str(threads) == "all":
        return ""
    return f", {threads} thread" + ("s" if str(threads) != "1" else "")


def context_label(ctx, workers=1, data="real", dtype="float32", samples=0, threads="all",
                  model_sha256="", by_turns=False):
    """'gpu:0-7', plus workers, dtype, '(synthetic)', the --max-samples prefix, the threads and
    'by turns' when they are not the defaults. Takes a report.frame.GROUP tuple's context
    (`*group[1:]`); the model's hash is in the scenario's name and its own section, not in a
    context."""
    text = ctx + (f" ×{workers} workers" if workers > 1 else "")
    text += f" {dtype}" if dtype != "float32" else ""
    text += " (synthetic)" if data == "synthetic" else ""
    text += f", first {samples:,} samples" if samples else ""
    return text + threads_label(threads) + (", by turns" if by_turns else "")


def group_title(group):
    scenario, *context = group
    return f"{scenario} on {context_label(*context)}"


def pair_name(numerator, denominator):
    return f"{impl_name(numerator)}/{impl_name(denominator)}"


def pair_title(numerator, denominator):
    """The column that shows a pair's ratio; the A/A control's is the noise floor."""
    if numerator == f"{denominator}-control":
        return f"noise floor (A/A, {impl_name(denominator)} twice)"
    return f"{pair_name(numerator, denominator)} epoch time"


def format_rate(value):
    return "—" if value is None else f"{value:,.0f}"


def format_accuracy(value):
    return "—" if value is None else f"{value:.4f}"


def format_fraction(value):
    return "—" if value is None else f"{value:.1%}"


def format_ratio(r):
    """'1.23x (95% CI 1.20–1.31, n=5)'; says so when there is no CI."""
    head = f"{r['ratio']:.2f}x"
    if not r["paired"]:
        return f"{head} (unpaired, n={r['n']}, no CI)"
    if r["ci_low"] is None:
        return f"{head} (n={r['n']}, no CI)"
    return f"{head} ({r['ci_level']:.0%} CI {r['ci_low']:.2f}–{r['ci_high']:.2f}, n={r['n']})"


def format_cell(r):
    """A headline cell: '2.16x (2.07-2.25)'; '2.16x (n=1)' without a CI."""
    if r["ci_low"] is None:
        return f"{r['ratio']:.2f}x (n={r['n']})"
    return f"{r['ratio']:.2f}x ({r['ci_low']:.2f}-{r['ci_high']:.2f})"


def format_floor(r):
    """The A/A noise floor: '±2.6% (A/A 1.01x, 95% CI 0.98–1.03, n=5)'."""
    if r["half_width"] is None:
        return f"unknown (A/A {format_ratio(r)})"
    return (f"±{r['half_width']:.1%} (A/A {r['ratio']:.2f}x, CI {r['ci_low']:.2f}–"
            f"{r['ci_high']:.2f}, n={r['n']})")
