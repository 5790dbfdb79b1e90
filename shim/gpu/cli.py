"""`python -m shim.gpu`: the preflight's report as tables, and its command line."""
import argparse
import sys

from .archs import runs_on
from .judge import parse_indices, preflight
from .smoke import SMOKE_STEPS, smoke_check, smoke_main
from .verdicts import Report

DESCRIPTION = "GPU preflight for the MXNet GPU build: can the requested GPUs run this libmxnet.so?"


def _table(rows, headers=()) -> str:
    try:
        from tabulate import tabulate
        return tabulate(rows, headers=headers or (), tablefmt="simple", disable_numparse=True)
    except ImportError:  # e.g. a bare machine used only for the preflight
        rows = [list(map(str, r)) for r in ([headers] if headers else []) + list(rows)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def format_report(report: Report) -> str:
    f = report.features
    if f.get("CUDA") is None:
        build = f.get("reason") or "mxnet not importable"
    else:
        build = f"mxnet {f.get('version')}: " + ", ".join(
            f"{k} {'on' if f.get(k) else 'off'}" for k in ("CUDA", "CUDNN", "NCCL"))
    fb = report.fatbin
    rows = [("mxnet build", build), ("library", report.lib_path or report.lib_reason)]
    if fb is not None:
        if fb.sass or fb.ptx:
            rows += [("SASS", " ".join(fb.sass) or "none"), ("PTX", " ".join(fb.ptx) or "none"),
                     ("runs on cc", runs_on(fb.sass, fb.ptx)),
                     ("fatbins", f"{fb.containers}" + (
                         "" if len(fb.arch_sets) <= 1 else f" ({len(fb.arch_sets)} different arch sets)"))]
        else:
            rows.append(("archs", "no GPU code (no .nv_fatbin section: CPU build)"))
    rows.append(("driver", report.driver_reason or f"{len(report.gpus)} GPU(s)" + (
        f", driver {report.driver.version}" if report.driver.version else "")))
    out = [_table(rows)]
    gpu_rows = []
    for v in report.verdicts:
        g = v.gpu
        mark = "*" if v.index in report.requested else ""
        gpu_rows.append((f"gpu:{v.index}{mark}", g.name if g else "-", g.compute_capability if g else "-",
                         g.memory_mib if g else "-", v.arch or "-",
                         v.code if v.ok else f"{v.code}"))
    if gpu_rows:
        out.append(_table(gpu_rows, ("gpu", "name", "cc", "MiB", "runs", "verdict")))
    if report.requested:
        out.append("requested: " + ", ".join(f"gpu:{i}" for i in report.requested) + " -> " +
                   ("all usable" if report.ok else report.problems[0].message))
    return "\n\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shim.gpu", description=DESCRIPTION)
    ap.add_argument("--gpus", default="", help="GPU indices to check, e.g. 0,1 (default: report only)")
    ap.add_argument("--lib", default=None,
                    help="read CUDA archs from this .so or raw .fatbin instead of the installed libmxnet.so")
    ap.add_argument("--nvidia-smi", default="nvidia-smi", help=argparse.SUPPRESS)
    ap.add_argument("--smoke", default=None, help=argparse.SUPPRESS)  # the smoke check's child
    args = ap.parse_args(argv)
    if args.smoke is not None:
        return smoke_main(parse_indices(args.smoke))
    try:
        requested = parse_indices(args.gpus)
    except ValueError:
        ap.error(f"--gpus wants indices like 0,1, not {args.gpus!r}")
    report = preflight(requested, lib_path=args.lib, nvidia_smi=args.nvidia_smi)
    print(format_report(report))
    problem = report.problems[0] if report.problems else None
    if problem is None and requested:
        problem = smoke_check(report)
        print(f"smoke check ({', '.join(SMOKE_STEPS)}): " + (problem.code if problem else "ok"))
    if problem:
        print(f"preflight: {problem.message}", file=sys.stderr)
        return 2
    return 0
