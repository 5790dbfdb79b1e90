"""Keras's CNN-LSTM graph runs at one of two speeds on CPU, decided by what the process
allocated before (README, "Where the time goes").

    python tools/layout_probe.py [--processes 4] [--steps 8]

Each process builds Keras's training graph for the CNN-LSTM (keras_models.graph, as the
keras-graph arm does) and times forward + backward + Adam step on one batch of 128 real
reviews, the same inputs every step. Half of the processes first hold the 1024-review prefix as
an MXNet array (`mx.nd.array(x_train)`, unused afterwards, as keras-graph's loop holds it);
the others do not. Processes alternate between the two, and each prints its median ms per step.
Nothing is written; the answer is the two columns side by side.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH = 128


def one_process(hold_prefix, steps):
    sys.path.insert(0, str(ROOT))
    import benchdata
    import scenarios
    from gluon_models.train import trainer
    from keras_models.graph import training_graph
    from keras_models.train import compiled_model
    from shim.contexts import parse
    import mxnet as mx
    from mxnet import autograd

    scenario = scenarios.get("rnn")
    data = benchdata.load("rnn", data="real", max_samples=1024, seed=0)
    model = compiled_model(scenario, parse("cpu"))
    x_dtype = model.inputs[0].dtype  # the prefix as keras-graph's loop holds it
    held = mx.nd.array(data.x_train, dtype=x_dtype) if hold_prefix else None  # noqa: F841
    x = mx.nd.array(data.x_train[:BATCH], dtype=x_dtype)
    y = mx.nd.array(data.y_train[:BATCH].reshape(BATCH, 1), dtype=model.targets[0].dtype)
    weights = mx.nd.ones(BATCH)
    net = training_graph(model, [mx.cpu()])
    net.hybridize(static_alloc=True, static_shape=True)
    step = trainer(net, scenario.optimizer, "device")

    def train_step():
        with autograd.record():
            loss, _ = net(x, y, weights)
        loss.backward()
        step.step(1)

    times = []
    for _ in range(steps + 2):  # the first two are warm-up
        start = time.perf_counter()
        train_step()
        mx.nd.waitall()
        times.append(time.perf_counter() - start)
    print(f"{statistics.median(times[2:]) * 1000:.0f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--processes", type=int, default=4, help="processes per arm (default: 4)")
    p.add_argument("--steps", type=int, default=8, help="timed steps per process (default: 8)")
    p.add_argument("--child", choices=("hold", "plain"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return one_process(args.child == "hold", args.steps)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", str(os.cpu_count())),
               MXNET_SUBGRAPH_VERBOSE="0")
    results = {"plain": [], "hold": []}
    for _ in range(args.processes):
        for arm in results:
            done = subprocess.run([sys.executable, __file__, "--child", arm, "--steps",
                                   str(args.steps)], env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"layout_probe: a {arm} process failed: {done.stderr.strip()[-300:]}")
            results[arm].append(int(done.stdout.split()[-1]))
    print("ms per step, one number a process")
    print(f"  without the prefix array:  {results['plain']}")
    print(f"  holding the prefix array:  {results['hold']}")


if __name__ == "__main__":
    main()
