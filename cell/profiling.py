"""Per-operator time over a cell's timed epochs (`bench.py --profile`), the same way for every
MXNet implementation, and torch.profiler for the torch yardstick.

A training loop brackets each timed epoch (never the warm-up) with the profiler:

    profile = profiling.for_mxnet(enabled)      # or profiling.for_torch(enabled)
    for epoch in range(epochs):
        profile.begin(epoch)                    # runs only from epoch 1 on
        ... train the epoch ...
        profile.end(epoch)
    Trained(..., operators=profile.operators())

`operators()` gives one dict per operator: name, calls and total milliseconds over all timed
epochs; the harness divides by the timed steps (see cell/harness.py, operator_rows). A disabled
profile does nothing, so an unprofiled cell runs exactly the loop it ran before.

MXNet: its built-in profiler with aggregate statistics, symbolic and imperative operators only
(no C API or memory records, which would add cost without naming an operator); `set_state('run')`
at the start of each timed epoch and `'stop'` after its device sync, so the work between epochs
(ordering the next epoch's data) is not recorded. The statistics are read once, as JSON, from the
profiler's 'operator' domain. Operators run on MXNet's engine threads; with several contexts their
times overlap, so their sum can exceed the wall time.
"""
import json
import os
import tempfile

WARMUP_EPOCHS = 1
# MXNet runs consecutive operators of a graph as one engine task ("bulk execution"), which the
# profiler records as one entry named after all of them; a profiled cell runs operator by
# operator so that each has its own time. (It changes the execution a little, one more reason
# why profiled cells never enter the throughput tables.)
UNBULKED = {"MXNET_EXEC_BULK_EXEC_TRAIN": "0", "MXNET_EXEC_BULK_EXEC_INFERENCE": "0"}


def prepare_process():
    """Called by the harness for a profiled cell before any framework is imported."""
    os.environ.update(UNBULKED)


class _Disabled:
    def begin(self, epoch):
        pass

    def end(self, epoch):
        pass

    def operators(self):
        return None


class MxnetProfile:
    def __init__(self):
        import mxnet as mx

        self.mx = mx
        # The profiler insists on a trace file name even when only aggregates are read.
        self.trace = os.path.join(tempfile.mkdtemp(prefix="kmb-profile-"), "profile.json")
        mx.profiler.set_config(profile_symbolic=True, profile_imperative=True,
                               profile_memory=False, profile_api=False,
                               aggregate_stats=True, filename=self.trace)

    def begin(self, epoch):
        if epoch >= WARMUP_EPOCHS:
            self.mx.nd.waitall()   # what the warm-up (or the data's ordering) queued is not ours
            self.mx.profiler.set_state("run")

    def end(self, epoch):
        if epoch >= WARMUP_EPOCHS:
            self.mx.nd.waitall()
            self.mx.profiler.set_state("stop")

    def operators(self):
        stats = json.loads(self.mx.profiler.dumps(reset=True, format="json"))
        return parse_mxnet(stats)


def parse_mxnet(stats):
    """[{'operator', 'calls', 'total_ms'}] from `mx.profiler.dumps(format='json')`'s dict."""
    domain = stats.get("Time", {}).get("operator", {})
    return [{"operator": name, "calls": int(s["Count"]), "total_ms": float(s["Total"])}
            for name, s in domain.items()]


class TorchProfile:
    """torch.profiler over the timed epochs: self CPU time per operator (torch runs on the CPU
    here, synchronously, so self times add up to the operators' share of the step)."""

    def __init__(self):
        import torch

        self.torch = torch
        self.totals = {}

    def begin(self, epoch):
        if epoch >= WARMUP_EPOCHS:
            self.profiler = self.torch.profiler.profile(
                activities=[self.torch.profiler.ProfilerActivity.CPU])
            self.profiler.__enter__()

    def end(self, epoch):
        if epoch >= WARMUP_EPOCHS:
            self.profiler.__exit__(None, None, None)
            for event in self.profiler.key_averages():
                calls, ms = self.totals.get(event.key, (0, 0.0))
                self.totals[event.key] = (calls + event.count,
                                          ms + event.self_cpu_time_total / 1000)

    def operators(self):
        return [{"operator": name, "calls": calls, "total_ms": ms}
                for name, (calls, ms) in self.totals.items()]


def for_mxnet(enabled):
    return MxnetProfile() if enabled else _Disabled()


def for_torch(enabled):
    return TorchProfile() if enabled else _Disabled()
