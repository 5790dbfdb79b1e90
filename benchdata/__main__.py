"""python -m benchdata [--data-dir DIR] [--scenario lenet,rnn] [--data real|synthetic]

Loads (downloading if needed), verifies and prints each scenario's shapes. Exit 2 with a one-line
`error: ...` on stderr when the data is missing or bad.
"""
import argparse
import sys
import time

from . import DATA_KINDS, SCENARIOS, DataError, load, resolve_data_dir


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchdata", description=__doc__.split("\n\n")[1])
    p.add_argument("--data-dir", help="directory with mnist/ and the IMDB archive "
                   "(default: $KERAS_MXNET_BENCH_DATA, else the per-user cache)")
    p.add_argument("--scenario", default=",".join(SCENARIOS), help="comma-separated: lenet,rnn")
    p.add_argument("--data", default="real", choices=DATA_KINDS)
    p.add_argument("--no-download", action="store_true", help="never download missing data")
    args = p.parse_args(argv)
    try:
        if args.data == "real":
            print(f"data directory: {resolve_data_dir(args.data_dir)}")
        for scenario in filter(None, args.scenario.split(",")):
            t0 = time.perf_counter()
            ds = load(scenario.strip(), data=args.data, data_dir=args.data_dir, download=not args.no_download)
            shapes = ", ".join(f"{n} {a.shape} {a.dtype}" for n, a in zip(ds._fields, ds) if n != "kind")
            print(f"{scenario}: {ds.kind}: {shapes} ({time.perf_counter() - t0:.1f} s)")
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
