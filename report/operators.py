"""Where the time goes (a folder page's section, and operators.png): the Keras/Gluon ratio split
into Keras's loop (keras/keras-graph) and Keras's graph (keras-graph/gluon), each a Ratio over the
same rounds so that loop x graph = total exactly; and the operators behind it (operators.csv,
`bench.py --profile`) by CATEGORIES. The shares are on a log scale, ln(loop)/ln(total), so that
they add up to 1 when both slow Keras down."""
import math
from pathlib import Path
from statistics import median

import pandas as pd

from cell.arms import FUSED, fixes_of_arm, is_fused
from report import frame
from report.names import context_label, impl_name, table, text
from report.ratios import Ratio
from report.storage import read_operators

PLOT_NAME = "operators"
ARMS = ("keras", "keras-graph", "gluon")
CATEGORIES = ["convolution", "dense/dot", "elementwise", "RNN", "optimizer update",
              "copies/reorders", "other"]
CATEGORY_COLORS = ["tab:blue", "tab:orange", "tab:red", "tab:purple", "tab:green", "tab:brown",
                   "tab:gray"]
TOP_OPERATORS = 8

# Operator names of MXNet (forward; '_backward_X' counts as X) and of torch ('aten::x').
_RULES = [
    ("RNN", ("rnn", "lstm", "gru")),
    ("convolution", ("convolution", "conv", "sg_mkldnn_conv", "sg_onednn_conv")),
    ("dense/dot", ("fullyconnected", "fully_connected", "dot", "batch_dot", "linalg_gemm",
                   "addmm", "mm", "linear", "matmul", "bmm")),
    ("copies/reorders", ("copy", "copyto", "copycpu2cpu", "copycpu2gpu", "copygpu2cpu",
                         "copygpu2gpu", "reorder", "transpose", "reshape", "flatten",
                         "expand_dims", "slice", "slice_axis", "slicechannel", "split", "concat",
                         "tile", "take", "cast", "amp_cast", "amp_multicast", "contiguous", "to",
                         "cat", "permute", "view", "swapaxes", "stack", "squeeze", "unsqueeze",
                         "clone", "index_select", "index", "embedding")),
]
_ELEMENTWISE = ("broadcast_", "elemwise_", "activation", "leakyrelu", "relu", "sigmoid", "tanh",
                "log", "exp", "clip", "softmax", "log_softmax", "add_n", "elementwisesum", "sum",
                "mean", "plus", "minus", "mul", "div", "add", "sub", "_scalar", "zeros_like",
                "ones_like", "square", "sqrt", "makeloss", "binary_cross_entropy", "nll_loss",
                "where", "threshold", "argmax", "eq", "not_equal", "equal", "gt")


def category(operator):
    """One of CATEGORIES for an operator's profiler name."""
    name = operator.lower().split("::")[-1].strip("_")   # torch's in-place ops end in '_'
    for prefix in ("backward_", "sg_mkldnn_", "sg_onednn_", "mkldnn_", "onednn_"):
        if name.startswith(prefix):
            name = name[len(prefix):].lstrip("_")
    if name.endswith("_update") or name.startswith("foreach_") or "optimizer" in name:
        return "optimizer update"
    for kind, names in _RULES:
        if name in names or (kind == "convolution" and name.startswith("conv")):
            return kind
    if any(name.startswith(p) or name == p.strip("_") or name.endswith(p) for p in _ELEMENTWISE):
        return "elementwise"
    return "other"


def loop_graph_split(rows):
    """One dict per cell (group and batch) with all three arms in the same rounds: 'loop',
    'graph' and 'total' (Ratios over those rounds, so loop x graph = total exactly), 'loop_share'
    and 'graph_share' (medians of the per-round log shares), 'rounds', the group and batch."""
    split = []
    for group, batch, by_impl in frame.lines(rows):
        if not all(arm in by_impl for arm in ARMS):
            continue
        loop = Ratio.of(by_impl["keras"], by_impl["keras-graph"]).per_round
        graph = Ratio.of(by_impl["keras-graph"], by_impl["gluon"]).per_round
        rounds = sorted(set(loop) & set(graph))
        if not rounds:
            continue
        total = {k: loop[k] * graph[k] for k in rounds}
        shares = [math.log(loop[k]) / math.log(total[k]) for k in rounds
                  if abs(math.log(total[k])) > 1e-9]
        split.append(dict(group=group, batch_size=batch, rounds=len(rounds),
                          loop=Ratio({k: loop[k] for k in rounds}),
                          graph=Ratio({k: graph[k] for k in rounds}), total=Ratio(total),
                          loop_share=median(shares) if shares else None,
                          graph_share=1 - median(shares) if shares else None))
    return split


def split_table(split):
    return table(["scenario", "context", "batch", "rounds", "Keras/Gluon",
                  "loop: Keras/Keras graph", "graph: Keras graph/Gluon", "loop share",
                  "graph share"],
                 [[s["group"][0], context_label(*s["group"][1:]), s["batch_size"], s["rounds"],
                   s["total"].factor(), s["loop"].factor(), s["graph"].factor(),
                   *("—" if s[k] is None else f"{s[k]:.0%}"
                     for k in ("loop_share", "graph_share"))]
                  for s in split])


def per_step(op_rows):
    """{cell: {impl: {operator: median ms per step over rounds}}} (absent in a round: 0); a
    cell is a tuple of the operator rows' scenario, ctx, batch, dtype and samples."""
    if not op_rows:
        return {}
    ops = pd.DataFrame(op_rows, dtype=object)
    ops["dtype"] = ops["dtype"].where(ops["dtype"].map(bool), "float32")
    ops["max_samples"] = ops["max_samples"].where(ops["max_samples"].notna(), 0)   # 0: all
    ops["ms_per_step"] = ops["ms_per_step"].map(lambda ms: ms or 0.0).astype(float)
    return {cell: {impl: arm.pivot_table(index="operator", columns="round", values="ms_per_step",
                                         aggfunc="last").fillna(0.0).median(axis=1).to_dict()
                   for impl, arm in part.groupby("impl", sort=False)}
            for cell, part in ops.groupby(["scenario", "ctx", "batch_size", "dtype",
                                           "max_samples"], sort=False, dropna=False)}


def by_category(operators):
    """{category: ms per step} of one arm's {operator: ms per step}."""
    totals = dict.fromkeys(CATEGORIES, 0.0)
    for name, ms in operators.items():
        totals[category(name)] += ms
    return totals


def extra_over(keras_ops, gluon_ops, top=TOP_OPERATORS):
    """The operators with the most extra per-step time in Keras's step over Gluon's (by name;
    an operator Gluon does not run counts whole), and the total extra operator time."""
    extra = {name: ms - gluon_ops.get(name, 0.0) for name, ms in keras_ops.items()}
    total = math.fsum(keras_ops.values()) - math.fsum(gluon_ops.values())   # any order: same sum
    ranked = sorted(((ms, name) for name, ms in extra.items() if ms > 0), reverse=True)
    return [(name, ms) for ms, name in ranked[:top]], total


def top_operators(operators, top=5):
    return [name for name, _ in sorted(operators.items(), key=lambda kv: -kv[1])[:top]]


def arms_of(by_impl):
    return [a for a in ARMS if a in by_impl] + sorted(set(by_impl) - set(ARMS))


def cell_text(cell):
    scenario, ctx, batch, dtype, samples = cell
    return (f"{scenario} on {context_label(ctx, dtype=dtype)}, batch {batch}"
            + (f", {samples:,} samples" if samples else ""))


def hand_profile_checks(steps):
    """The two facts the hand profile established, checked against the measured profile."""
    lines = []
    for cell, by_impl in sorted(steps.items(), key=str):
        keras_ops = by_impl.get("keras")
        if keras_ops and cell[0] == "lenet":
            top = top_operators(keras_ops, 5)
            found = [name for name in top if "broadcast_add" in name]
            lines.append(text("operators", "lenet-check" + ("" if found else "-unlike")).format(
                cell=cell_text(cell), top=", ".join(top), found=", ".join(found)))
        elif keras_ops and cell[0] == "rnn":
            categories = by_category(keras_ops)
            share = ((categories["elementwise"] + categories["dense/dot"])
                     / (sum(categories.values()) or 1.0))
            lines.append(text("operators", "rnn-check" + ("" if share > 0.5 else "-unlike"))
                         .format(cell=cell_text(cell), share=share,
                                 leading=max(categories, key=categories.get)))
    return lines


def recovered_by_fix(steps, top=3):
    """Where the fused path's arms were profiled beside keras: per cell and fused arm, the
    operator time per step it saves (Keras's step minus the arm's) and the operators that save
    most. For a single-fix arm that is the fix's own part; the operators are compared by name
    (one the fused arm does not run counts whole, one only it runs, such as RNN, negatively)."""
    found = []
    for cell, by_impl in sorted(steps.items(), key=str):
        keras_ops = by_impl.get("keras")
        for arm in sorted((a for a in by_impl if is_fused(a) and keras_ops),
                          key=lambda a: (a == FUSED, len(fixes_of_arm(a)), a)):
            saved, total = extra_over(keras_ops, by_impl[arm], top)
            found.append({"cell": cell, "arm": arm, "saved_ms": total,
                          "keras_ms": math.fsum(keras_ops.values()), "operators": saved})
    return found


def recovered_markdown(found):
    shown = [[cell_text(r["cell"]), impl_name(r["arm"]), f"{r['saved_ms']:+.2f}",
              f"{r['saved_ms'] / r['keras_ms']:.0%}" if r["keras_ms"] > 0 else "—",
              ", ".join(f"{name} {ms:.2f}" for name, ms in r["operators"]) or "—"]
             for r in found]
    return table(["cell", "arm", "operator ms per step saved over Keras",
                  "of Keras's operator time", "operators saving most (ms per step)"], shown)


def operators_markdown(steps, level=4):
    parts = []
    for cell, by_impl in sorted(steps.items(), key=str):
        shown = [[impl_name(a)] + [f"{by_category(by_impl[a])[c]:.2f}" for c in CATEGORIES]
                 + [f"{sum(by_impl[a].values()):.2f}"] for a in arms_of(by_impl)]
        parts.append(f"{'#' * level} {cell_text(cell)}: milliseconds per step by operator "
                     "category\n\n" + table(["arm"] + CATEGORIES + ["all operators"], shown))
        # keras-fused's: what remains of Keras's cost with the fused path, by operator
        for keras_arm in ("keras", "keras-graph", FUSED):
            if keras_arm not in by_impl or not {"keras", "gluon"} <= set(by_impl):
                continue
            extra, total = extra_over(by_impl[keras_arm], by_impl["gluon"])
            rows = [[name, category(name), f"{ms:.2f}", f"{ms / total:.0%}" if total > 0 else "—"]
                    for name, ms in extra]
            parts.append(f"Operators with the most extra time in {impl_name(keras_arm)}'s step "
                         f"over Gluon's (all operators: {total:+.2f} ms per step):\n\n"
                         + table(["operator", "category", "extra ms per step", "of the extra"],
                                 rows))
    return "\n\n".join(parts)


def section(run_dir, rows, level=3, images=None):
    """The 'Where the time goes' section of one folder, from its runs.csv rows and its
    operators.csv; says what is missing instead of concluding without data. '' for a folder
    that ran neither keras-graph nor --profile: it has nothing to split. `images`: the path of
    the folder's images from the page (default: <folder>/)."""
    images = f"{Path(run_dir).name}/" if images is None else images
    steps = per_step(read_operators(run_dir))
    if not steps and not (frame.as_frame(rows)["impl"] == "keras-graph").any():
        return ""
    split = loop_graph_split(rows)
    parts = [f"{'#' * level} Where the time goes", text("operators", "split"),
             split_table(split) if split else text("operators", "no-split")]
    if not steps:
        return "\n\n".join(parts + [text("operators", "no-operators")])
    parts.append(text("operators", "operators"))
    if (Path(run_dir) / f"{PLOT_NAME}.png").is_file():
        parts.append(f"![{Path(run_dir).name} {PLOT_NAME}]({images}{PLOT_NAME}.png)")
    recovered = recovered_by_fix(steps)
    if recovered:
        parts.append(text("operators", "recovered") + "\n\n" + recovered_markdown(recovered))
    checks = hand_profile_checks(steps)
    if checks:
        parts.append("Checked against the earlier hand profile:\n\n"
                     + "\n".join(f"- {line}" for line in checks))
    return "\n\n".join(parts + [operators_markdown(steps, level + 1)])
