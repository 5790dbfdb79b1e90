"""python -m report [--results results]: regenerate summaries, plots and results/README.md."""
import argparse
import sys

from report.readme import regenerate
from report.storage import ReportError


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m report", description=__doc__)
    parser.add_argument("--results", default="results",
                        help="folder holding one <label>/runs.csv per machine (default: results)")
    args = parser.parse_args(argv)
    try:
        notes = regenerate(args.results)
    except (ReportError, OSError) as error:
        # Users get one line; a traceback here would only hide which file is wrong.
        print(f"error: {error}", file=sys.stderr)
        return 2
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
