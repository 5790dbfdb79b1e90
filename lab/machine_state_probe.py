"""Watch the machine's state move a Keras/Gluon ratio: the canary beside a cell of each arm.

    python lab/machine_state_probe.py [--minutes 15] [--scenario rnn] [--batch-size 128]

Over and over until the time is up: the canary (noise.canary_ms, the column `canary_ms` of
runs.csv), then one Keras cell, then one Gluon cell, each cell in a process of its own
(harness.run_cell: the real data's first 1024 samples, 3 epochs, on `cpu`). One line a turn:
the time, the canary, each arm's median epoch time and their ratio. Nothing is written.
On the 2-core VM of 2026-11-30 the turns fell into two states lasting minutes, told apart by
the canary alone (docs/methodology.md: Two states of the machine).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cell import noise  # noqa: E402


def one_cell(impl, scenario, batch_size):
    from cell import harness

    cell = dict(scenario=scenario, impl=impl, ctx="cpu", data="real", max_samples=1024, seed=0,
                batch_size=batch_size, epochs=3)
    print(json.dumps(statistics.median(harness.run_cell(cell, progress=False)["epoch_s_timed"])))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=15, help="default: 15")
    p.add_argument("--scenario", choices=("lenet", "rnn"), default="rnn")
    p.add_argument("--batch-size", type=int, default=128, help="default: 128")
    p.add_argument("--child", choices=("keras", "gluon"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return one_cell(args.child, args.scenario, args.batch_size)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(os.cpu_count())),
               MXNET_SUBGRAPH_VERBOSE="0")
    end = time.monotonic() + args.minutes * 60
    print(f"{args.scenario}, batch {args.batch_size}, 1024 samples: time, canary (ms), "
          "median epoch (s) Keras and Gluon, Keras/Gluon", flush=True)
    while time.monotonic() < end:
        stamp, canary = time.strftime("%H:%M:%S"), noise.canary_ms()
        seconds = {}
        for impl in ("keras", "gluon"):
            done = subprocess.run([sys.executable, __file__, "--scenario", args.scenario,
                                   "--batch-size", str(args.batch_size), "--child", impl],
                                  env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"machine_state_probe: a {impl} cell failed: {done.stderr.strip()[-300:]}")
            seconds[impl] = float(done.stdout.split()[-1])
        print(f"{stamp}  {canary:6.2f}  {seconds['keras']:.3f}  {seconds['gluon']:.3f}  "
              f"{seconds['keras'] / seconds['gluon']:.2f}x", flush=True)


if __name__ == "__main__":
    main()
