"""How the report names and formats things: arms, contexts, rates and tables. One place, so that
a table, a conclusion, a plot's legend and the headline say a thing the same way. (A ratio
formats itself: report.ratios.Ratio.)"""
import functools
import re
from pathlib import Path

from tabulate import tabulate

from cell import arms

# the selectable arms in display order (cell/arms.py); a control is shown with its pair
IMPL_ORDER = arms.ordered(arms.SELECTABLE + (arms.FUSED,))
impl_name = arms.label


@functools.cache
def _texts(page):
    source = (Path(__file__).parent / "text" / f"{page}.md").read_text()
    parts = re.split(r"\n?<!-- (\S+) -->\n", source)
    return dict(zip(parts[1::2], (part.rstrip("\n") for part in parts[2::2])))


def text(page, name):
    """A piece of the report's fixed text: report/text/<page>.md, after `<!-- name -->`."""
    return _texts(page)[name]


def table(headers, rows):
    """A markdown (pipe) table; cells are text as given, never reparsed as numbers."""
    return tabulate(rows, headers, tablefmt="pipe", disable_numparse=True)


def threads_label(threads):
    """'' for the default share of the cores; ', 1 thread' for --threads 1."""
    if str(threads) == "all":
        return ""
    return f", {threads} thread" + ("s" if str(threads) != "1" else "")


def context_label(ctx, workers=1, data="real", dtype="float32", samples=0, threads="all",
                  model_sha256="", by_turns=False, batch=None):
    """The one context label: 'gpu:0-7', plus workers, dtype, '(synthetic)', ' b128' (a batch,
    where given), the --max-samples prefix, the threads and 'by turns' when they are not the
    defaults. Takes a report.frame.GROUP tuple's context (`*group[1:]`); the model's hash is in
    the scenario's name and its own section, not in a context."""
    text = ctx + (f" ×{workers} workers" if workers > 1 else "")
    text += f" {dtype}" if dtype != "float32" else ""
    text += " (synthetic)" if data == "synthetic" else ""
    text += f" b{batch}" if batch is not None else ""
    text += f", first {samples:,} samples" if samples else ""
    return text + threads_label(threads) + (", by turns" if by_turns else "")


def group_title(group):
    scenario, *context = group
    return f"{scenario} on {context_label(*context)}"


def pair_name(numerator, denominator):
    return f"{impl_name(numerator)}/{impl_name(denominator)}"


def pair_title(numerator, denominator):
    """The column that shows a pair's ratio; the A/A control's is the noise floor."""
    if arms.get(numerator).control_of == denominator:
        return f"noise floor (A/A, {impl_name(denominator)} twice)"
    return f"{pair_name(numerator, denominator)} epoch time"


def _or_dash(form):
    return lambda value: "—" if value is None else form.format(value)


format_rate, format_accuracy, format_fraction = map(_or_dash, ("{:,.0f}", "{:.4f}", "{:.1%}"))
