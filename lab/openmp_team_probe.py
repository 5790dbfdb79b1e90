"""What an OpenMP team on the Python thread costs an MXNet arm (shim/arrays.py explains it).

    python lab/openmp_team_probe.py --impl gluon --scenario rnn [--batch-size 128] [--processes 3]

Each process runs one benchmark cell (harness.run_cell: the real data's first 1024 samples,
3 epochs, on `cpu`) in one of three ways, the ways alternating process by process:
- as benchmarked;
- with a team: the process first copies a 400,000-element array into MXNet with plain
  `mx.nd.array` on the Python thread, as Gluon's arm did with its training set before method 2;
- without any: `MXNET_CPU_PARALLEL_SIZE` so large that no copy runs OpenMP on its calling
  thread, whoever makes it (keras-mxnet makes some itself: its LeNet's initial weights).
It prints each process's median epoch time and its threads at the end. Nothing is written.
"""
import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WAYS = {"as benchmarked": {}, "with a team": {},
        "without any": {"MXNET_CPU_PARALLEL_SIZE": str(2**31 - 1)}}   # MXNet's int maximum


def one_process(impl, scenario, batch_size, with_team):
    sys.path.insert(0, str(ROOT))
    from cell import harness

    if with_team:
        import numpy as np
        import mxnet as mx

        mx.nd.array(np.ones(400_000, dtype="float32")).wait_to_read()
    cell = dict(scenario=scenario, impl=impl, ctx="cpu", data="real", max_samples=1024, seed=0,
                batch_size=batch_size, epochs=3)
    measured = harness.run_cell(cell, progress=False)
    threads = len(os.listdir("/proc/self/task"))
    print(f"{statistics.median(measured['epoch_s_timed']):.3f} {threads}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", choices=("gluon", "keras", "keras-graph"), default="gluon")
    p.add_argument("--scenario", choices=("lenet", "rnn"), default="rnn")
    p.add_argument("--batch-size", type=int, default=128, help="default: 128")
    p.add_argument("--processes", type=int, default=3, help="processes per way (default: 3)")
    p.add_argument("--child", choices=("plain", "team"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return one_process(args.impl, args.scenario, args.batch_size, args.child == "team")
    base = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(os.cpu_count())),
                MXNET_SUBGRAPH_VERBOSE="0")
    results = {way: [] for way in WAYS}
    for _ in range(args.processes):
        for way, extra in WAYS.items():
            child = "team" if way == "with a team" else "plain"
            done = subprocess.run([sys.executable, __file__, "--impl", args.impl, "--scenario",
                                   args.scenario, "--batch-size", str(args.batch_size),
                                   "--child", child], env=dict(base, **extra),
                                  capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"openmp_team_probe: a process failed: {done.stderr.strip()[-300:]}")
            seconds, threads = done.stdout.split()[-2:]
            results[way].append(f"{seconds} ({threads} threads)")
    print(f"{args.impl} {args.scenario}, batch {args.batch_size}, 1024 samples: median epoch "
          "(seconds), one a process")
    for way, values in results.items():
        print(f"  {way + ':':16} {', '.join(values)}")


if __name__ == "__main__":
    main()
