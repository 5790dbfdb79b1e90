"""python -m distributed: one cell on a local group, or the row from workers' result files.

    python -m distributed CELL_JSON --workers 2 --servers 1 [--timeout 600]   # prints the row
    python -m distributed --aggregate result-0.json result-1.json --servers 1  # rows from elsewhere
"""
import argparse
import json
import sys
from pathlib import Path

from shim import exits

from .local import DistributedError, run_cell
from .rows import aggregate


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m distributed",
        description="Run one cell on a local dist_sync group and print its row, or (--aggregate) "
                    "make the row from the workers' result files of a run started elsewhere, "
                    "e.g. across hosts by python -m shim.launch.")
    parser.add_argument("cell", nargs="?", help="the cell, as JSON (harness.py's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--log-dir")
    parser.add_argument("--aggregate", nargs="+", metavar="RESULT_JSON",
                        help="every worker's result file")
    args = parser.parse_args(argv)
    if args.aggregate:
        rows = [json.loads(Path(f).read_text()) for f in args.aggregate]
        print(json.dumps(aggregate(rows, args.servers), indent=1))
        return 0
    if not args.cell:
        parser.error("give a cell, or --aggregate RESULT_JSON...")
    try:
        row = run_cell(json.loads(args.cell), args.workers, args.servers, args.timeout,
                       log_dir=args.log_dir)
    except DistributedError as error:
        if error.log_tail:
            print(error.log_tail, file=sys.stderr)
        print(f"{exits.FAILED} {error}", file=sys.stderr)
        return 1
    print(json.dumps(row, indent=1))
    return 0


sys.exit(main())
