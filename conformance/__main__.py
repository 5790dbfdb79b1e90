"""python -m conformance [reference [--floatx F]] [--case NAME[,NAME]] [--kind KIND] [--list]
[--no-fused]

Without `reference`: judge the cases against the committed fixtures (no TensorFlow needed), keep
their rows in results/conformance/rows.json (a partial run replaces its own), and write from
them results/conformance/table.csv and table.md, docs/conformance.md and the pinned verdicts
tests/fixtures/conformance/expected.json (tests/test_conformance.py holds every judged case to
them; `make conformance` judges every case). With `reference`: remake the fixtures with tf.keras
(.venv-reference, `make setup-reference`): every case's, and each application's computed in
float64 too (verdict.py's second judgement; `--floatx float32` or `float64`: only those). Bad
input (an unknown case or kind, no reference environment): one line on stderr and exit status 2.
"""
import argparse
import os
import sys

from conformance import REFERENCE_PYTHON
from conformance.cases import KINDS


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m conformance", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["judge", "reference"], default="judge")
    parser.add_argument("--case", help="case names, comma-separated (see --list)")
    parser.add_argument("--kind", choices=KINDS)
    parser.add_argument("--list", action="store_true", help="print the cases' names and stop")
    parser.add_argument("--no-fused", action="store_true", help="skip keras-fused's verdicts")
    parser.add_argument("--floatx", choices=["float32", "float64"],
                        help="reference: make only the fixtures computed in this precision")
    return parser.parse_args(argv)


class BadInput(Exception):
    pass


def select(corpus, args):
    cases = list(corpus.values())
    if args.kind:
        cases = [c for c in cases if c.kind == args.kind]
    if args.case:
        names = [n for n in args.case.split(",") if n]
        unknown = [n for n in names if n not in corpus]
        if unknown:
            raise BadInput(f"unknown case {unknown[0]!r}: `python -m conformance --list` "
                           "names them all")
        cases = [c for c in cases if c.name in names]
    return cases


def main(argv=None):
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
    except SystemExit as done:   # argparse already printed its one line
        return 2 if done.code else 0
    if args.command == "reference" and not os.path.exists(REFERENCE_PYTHON):
        print(f"conformance: no reference environment at {REFERENCE_PYTHON}: run "
              "`make setup-reference`", file=sys.stderr)
        return 2
    from conformance.corpus import corpus

    try:
        cases = select(corpus(), args)
    except BadInput as error:
        print(f"conformance: {error}", file=sys.stderr)
        return 2
    if args.list:
        print("\n".join(f"{c.kind}\t{c.name}" for c in cases))
        return 0
    from conformance import run, table

    if args.command == "reference":
        made = run.reference(cases, floatx=(args.floatx,) if args.floatx else
                             ("float32", "float64"))
        cannot = sum(bool(v) for v in made.values())
        print(f"{len(made)} fixtures written; tf.keras cannot run {cannot}")
        return 0
    rows = []
    for case in cases:
        rows.append(run.evaluate(case, fused=not args.no_fused))
        r = rows[-1]
        print(f"{r['stock']:>16}  {r['fused'][:40]:<40}  {r['case']}", flush=True)
    print(table.counts_line(rows))
    if not args.no_fused:
        # A partial run (--kind, --case) replaces its rows among the last run's.
        whole = corpus()
        table.write_all(table.merge_rows(rows, list(whole),
                                         {n: c.kind for n, c in whole.items()}))
        print(f"written: {table.RESULTS}/table.csv, table.md, {table.DOC}, {table.EXPECTED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
