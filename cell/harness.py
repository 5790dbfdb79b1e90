"""One benchmark cell: one scenario, one implementation, one context spec, one batch size.

bench.py starts each cell as `python -m cell CELL_JSON RESULT_JSON` in a fresh process, so
the implementations never share a process, a memory pool or a crash. Everything that must be
identical across implementations lives here and in cell/contract.py (what the implementations
import), and each implementation only trains:

- data: the same arrays (benchdata), the same per-epoch order (`contract.epoch_order`);
- timing: epoch 1 is the warm-up; every epoch is wall time of training only, ended by a device
  sync; validation is timed on its own; throughput = training samples / median epoch time;
- metrics: validation loss and accuracy are computed here, from each side's predicted
  probabilities, by one numpy function (`contract.evaluate`).

An implementation module (the arm's `module` in cell/arms.py: keras_models.train,
keras_models.graph, gluon_models.train, torch_models.train) has
    train(scenario, data, context, batch_size, epochs, order, progress, dtype) -> contract.Trained
where dtype is 'float32' or 'bfloat16' (mixed precision; see shim.precision); a profiled cell
(`bench.py --profile`) also passes profile=True, and the operator times come back in the result
under 'operators' (see cell/profiling.py, operator_rows). A keras-fused arm (`keras-fused`, or
`keras-fused:bias+rnn` for some of the fixes) is keras_models.train given fixes=cell['fixes']:
the same model files and stock `fit`, with shim.fused enabled before the model is built.
"""
import importlib
import json
import math
import os
import platform
import resource
import statistics
import sys
import traceback

from cell.arms import module_of
from cell.contract import epoch_order, evaluate, sample_count
from shim import exits


def loop_cpu_fraction(trained):
    """How much of the timed epochs the training loop's own thread was busy on a core.

    MXNet runs operators on its engine's threads, so the loop thread's CPU time is what the
    implementation spends around them: Python, the framework's per-batch work, operator dispatch.
    Empty where operators run on the loop thread itself (PyTorch).
    """
    if not trained.loop_cpu_seconds:
        return None
    return round(sum(trained.loop_cpu_seconds[1:]) / sum(trained.epoch_seconds[1:]), 4)


def environment():
    """Versions and machine facts recorded with every row."""
    import importlib.metadata as md

    def version(package):
        try:
            return md.version(package)
        except md.PackageNotFoundError:
            return ""

    return {
        "python": platform.python_version(),
        "mxnet": version("mxnet") or version("mxnet-cu112"),
        "keras_mxnet": version("keras-mxnet"),
        "numpy": version("numpy"),
        "torch": version("torch"),
    }


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def run_cell(cell, progress=True):
    """Train and measure one cell; returns the measured columns of its runs.csv row."""
    import benchdata
    import scenarios
    from keras_models import user_model
    from shim.contexts import parse

    if cell.get("profile"):
        from cell import profiling

        profiling.prepare_process()
    context = parse(cell["ctx"])
    if cell.get("model"):   # bench.py --model: a user's Keras model on synthetic data
        scenario = user_model.UserModel(cell["model"])
        data = scenario.data(cell["max_samples"], cell["seed"])
    else:
        scenario = scenarios.get(cell["scenario"])
        data = benchdata.load(scenario.name, data=cell["data"], data_dir=cell.get("data_dir"),
                              max_samples=cell.get("max_samples"), seed=cell["seed"])
    implementation = importlib.import_module(module_of(cell["impl"]))
    n_train = sample_count(data.x_train)
    # kvstore only for a distributed cell (distributed.py): each worker trains its shard
    options = {"kvstore": cell["kvstore"]} if cell.get("kvstore") else {}
    if cell.get("profile"):
        options["profile"] = True
    if cell.get("fixes") is not None:   # a keras-fused arm
        options["fixes"] = tuple(cell["fixes"])

    trained = implementation.train(
        scenario, data, context, cell["batch_size"], cell["epochs"],
        order=lambda epoch: epoch_order(n_train, cell["seed"], epoch),
        progress=progress, dtype=cell.get("dtype", "float32"), **options,
    )
    if trained.trainable_parameters != scenario.parameter_count():
        raise RuntimeError(f"{cell['impl']} built {trained.trainable_parameters} trainable "
                           f"parameters, the scenario has {scenario.parameter_count()}")
    warmup, *timed = trained.epoch_seconds
    median = statistics.median(timed)
    if hasattr(scenario, "evaluate"):   # a user's model scores its own loss, where it can
        val_loss, val_accuracy = scenario.evaluate(data.y_val, trained.val_probabilities)
    else:
        val_loss, val_accuracy = evaluate(scenario, data.y_val, trained.val_probabilities)
    forward_flops = scenario.flops_per_sample()   # None for a user's model: not derived
    flops = forward_flops and forward_flops * scenarios.TRAINING_FLOPS_PER_FORWARD
    trained_samples = n_train if trained.train_samples is None else trained.train_samples
    samples_per_s = trained_samples / median
    steps = math.ceil(trained_samples / (cell["batch_size"] // trained.extra.get("workers", 1)))
    operators, coverage = operator_rows(trained.operators, steps * len(timed), sum(timed))
    return {
        "devices": context.devices,
        "per_device_batch": cell["batch_size"] // (context.devices * trained.extra.get("workers", 1)),
        "train_samples": trained_samples,
        "val_samples": sample_count(data.x_val),
        "warmup_s": round(warmup, 4),
        "epoch_s_median": round(median, 4),
        "epoch_s_min": round(min(timed), 4),
        "epoch_s_max": round(max(timed), 4),
        "epoch_s_timed": [round(t, 4) for t in timed],   # for bench.py's noise flags, not a column
        "samples_per_s": round(samples_per_s, 2),
        "loop_cpu_fraction": loop_cpu_fraction(trained),
        "train_loss": round(trained.train_loss, 5),
        "train_accuracy": rounded(trained.train_accuracy),
        "val_loss": rounded(val_loss),
        "val_accuracy": rounded(val_accuracy),
        "val_s": round(trained.val_seconds, 4),
        "flops_per_sample": flops,
        "gflops_per_s": round(flops * samples_per_s / 1e9, 3) if flops else None,
        "data": data.kind,
        **trained.extra,
        **environment(),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        **({"profiled": "yes", "profile_coverage": coverage, "operators": operators}
           if trained.operators is not None else {}),
    }


def rounded(value, digits=5):
    """A metric a user's model may lack (no accuracy, a loss not scored here) stays blank."""
    return None if value is None else round(value, digits)


def operator_rows(operators, timed_steps, timed_seconds):
    """Per-step figures of a profile's operators, largest first, and their coverage: the sum of
    operator time over the wall time of a step (operators on several engine threads overlap,
    so it can exceed 1; what it lacks of 1 is time no operator ran: Python, dispatch, waits)."""
    if operators is None:
        return None, None
    step_ms = 1000 * timed_seconds / timed_steps
    rows = [{"operator": o["operator"], "calls_per_step": round(o["calls"] / timed_steps, 3),
             "ms_per_step": round(o["total_ms"] / timed_steps, 4),
             "share_of_step": round(o["total_ms"] / timed_steps / step_ms, 5)}
            for o in operators]
    rows.sort(key=lambda r: -r["ms_per_step"])
    coverage = sum(o["total_ms"] for o in operators) / timed_steps / step_ms
    return rows, round(coverage, 4)


def main(argv):
    """`python -m cell CELL_JSON RESULT_JSON`: the result file is written only on success.

    For MXNet's launcher (python -m shim.launch, see distributed.py), which runs one command for
    every member of a parameter-server group: CELL_JSON may be @FILE, RESULT_JSON may contain
    {rank}, and with DMLC_ROLE=scheduler or server this process serves the group instead.
    """
    if os.environ.get("DMLC_ROLE"):   # a member of a parameter-server group
        import distributed

        distributed.watch_group()
    if os.environ.get("DMLC_ROLE") in ("scheduler", "server"):
        import shim

        shim.import_mxnet()  # importing mxnet in this role serves the group, then exits
        return 0
    cell = json.loads(open(argv[0][1:]).read() if argv[0].startswith("@") else argv[0])
    try:
        result = run_cell(cell, progress=not cell.get("quiet"))
    except Exception as error:  # one line for the sweep's table; the traceback for the log
        traceback.print_exc()
        print(f"{exits.FAILED} {type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        return 1
    with open(argv[1].replace("{rank}", str(result.get("rank", 0))), "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
