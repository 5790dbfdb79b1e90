"""bench.py --model FILE.py[:FUNCTION]: the parts of a sweep of a user's Keras model that run in
bench.py's own process, which holds no framework code. Whatever needs Keras (importing the
file, calling the function, checking the model, verifying the arms) runs in a child process,
`python -m keras_models.user_model` (docs/your-model.md).

- describe: before any training and before a results folder exists; bad input is one line
  (UsageError, exit status 2);
- verify: after the folder is taken, before the first timed cell, once per --ctx: each
  keras-fused and keras-graph arm against stock keras on one batch; an arm that differs is
  refused for the model, with the reason, and its cells are recorded as failed, never timed;
- against_reference: where the reference Keras is installed (make setup-reference), stock keras
  itself against Keras on TensorFlow (`python -m conformance.model_check`), in the keras rows'
  `verified`.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from cell import arms
from conformance import REFERENCE_PYTHON   # a path only: conformance imports Keras lazily
from keras_models import user_model   # its spec rule only: the module imports Keras lazily

ROOT = Path(__file__).resolve().parents[1]
CHILD = [sys.executable, "-m", "keras_models.user_model"]
REFERENCE_CHECK = [sys.executable, "-m", "conformance.model_check"]
ROW_COLUMNS = ("model_file", "model_sha256", "parameters")
DESCRIBE_TIMEOUT_S = 300


class ModelRefused(Exception):
    """The model file cannot be benchmarked: one line for bench.py's usage error."""


def absolute_spec(spec):
    """FILE.py:FUNCTION with FILE absolute: cells run in the repository's root."""
    path, function = user_model.split_spec(spec)
    return f"{path.resolve()}:{function}"


def run_child(args, env=None, timeout=DESCRIBE_TIMEOUT_S, child=CHILD):
    """(JSON of the child's last stdout line, None) or (None, its last stderr line)."""
    try:
        done = subprocess.run(child + args, cwd=ROOT, env=env, text=True, capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"no answer within {timeout} s"
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and lines:
        return json.loads(lines[-1]), None
    said = done.stderr.strip().splitlines()
    return None, said[-1] if said else f"exit status {done.returncode}"


def describe(spec):
    """{'name', 'parameters', 'sha256', 'file'} of the model, or ModelRefused."""
    found, error = run_child(["describe", absolute_spec(spec)])
    if error:   # named as the user named it
        error = error.replace(f"--model {absolute_spec(spec)}", f"--model {spec}")
        raise ModelRefused(error if error.startswith("--model") else f"--model {spec}: {error}")
    # the file as the user named it: the runs.csv `model_file`
    return dict(found, file=str(user_model.split_spec(spec)[0]))


def cell_columns(args):
    """What every cell of a --model sweep carries: the spec its process loads, and the columns
    of its row (model_file, model_sha256, parameters); {} for a scenario sweep."""
    if not args.model:
        return {}
    info = args.model_info
    return {"model": absolute_spec(args.model), "model_file": info["file"],
            "model_sha256": info["sha256"], "parameters": info["parameters"]}


def verify(args, env_of):
    """{(arm, ctx): 'yes' or why it is refused} for the checked arms of the sweep, printing one
    line per refused arm; env_of(ctx) is a cell's environment on that context."""
    # arms whose function is checked (cell/arms.py: checked_against) before they are timed;
    # keras itself (and its A/A control) is the reference, its rows' `verified` blank
    checked = arms.checked(args.impl)
    verdicts = against_reference(args)
    if not args.model or not checked:
        return verdicts
    for ctx in args.ctx:
        found, error = run_child(["verify", absolute_spec(args.model), ctx.spec, *checked],
                                 env=env_of(ctx.spec), timeout=args.cell_timeout)
        for arm in checked:
            verdicts[arm, ctx.spec] = found[arm] if found else f"the verification failed: {error}"
            if verdicts[arm, ctx.spec] != "yes":
                print(f"{args.model_info['name']} {arm} on {ctx.spec}: refused, not timed: "
                      f"{verdicts[arm, ctx.spec]}")
    passed = sorted({arm for (arm, _), v in verdicts.items() if v == "yes"})
    if passed:
        print(f"verified on one batch: {', '.join(passed)} "
              f"{'computes' if len(passed) == 1 else 'compute'} what keras does on "
              f"{args.model_info['name']}")
    return verdicts


def against_reference(args):
    """{('keras', ctx): 'yes (tf.keras X)' or how stock keras-mxnet computes otherwise} where the
    reference Keras is installed (make setup-reference; conformance/model_check.py), else {}.
    The keras arm is what a user of keras-mxnet gets: recorded, never refused."""
    if not (args.model and "keras" in args.impl and os.path.exists(REFERENCE_PYTHON)):
        return {}
    found, error = run_child([absolute_spec(args.model)], child=REFERENCE_CHECK,
                             timeout=args.cell_timeout)
    said = found["keras"] if found else f"the check against tf.keras failed: {error}"
    print(f"{args.model_info['name']} keras against Keras on TensorFlow: {said}")
    return {("keras", ctx.spec): said for ctx in args.ctx}


def verdict(args, cell):
    """A cell's `verified`: 'yes', why its arm is refused, the keras arm's check against the
    reference, or '' (not checked)."""
    return getattr(args, "verified", {}).get((cell["arm"], cell["ctx"]), "")


def refuses(args, cell):
    """Whether the verification refuses a cell's arm: a checked arm (cell/arms.py) that does not
    compute what keras does; it is recorded as failed, never timed."""
    return bool(arms.get(cell["arm"]).checked_against) and verdict(args, cell) not in ("", "yes")
