"""A configuration's round by turns (--method turns) as runs.csv rows: sweep/turns.py runs the
round, and each arm's row is made as sweep/rows.py makes a cell's, with the turns' columns:
`method` TURNS_METHOD, `order` the arm's place in the first turn, `epoch_s_turns` its epoch time
in each turn (also in the row of an arm the round stopped early, whose turns are kept).

The noise record (cell/noise.py) is the round's: one probe over the whole round, since its arms
ran all along it; every row of the round carries it.
"""
import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from cell import noise
from report import storage
from sweep import environment, process, turns
from sweep import model as sweep_model
from sweep.rows import add_result, cell_columns, cell_name


def turns_seed(args, round_number, name):
    """The seed of a round's turn orders: --seed, the round and the configuration (`name`, as
    round_cells names it), so that --resume replays them."""
    return f"{args.seed}-{round_number}-{name}-turns"


def measure_round(cells, args, out, machine, measured_peak, seed):
    """Run one configuration's round by turns; `cells` are its arms' cells of that round.
    Returns their rows, in the order of `cells`; logs of the arms that failed or were stopped
    are kept in <out>/logs/, as a failed cell's."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    verdicts = {cell["arm"]: sweep_model.verdict(args, cell) for cell in cells}
    timed = [cell for cell in cells if not sweep_model.refuses(args, cell)]
    with tempfile.TemporaryDirectory() as tmp:
        probe = noise.Probe()
        launches = [turns.Launch(cell["arm"], _command(cell), environment.cell_environment(cell))
                    for cell in timed]
        outcomes = {o.arm: o for o in (turns.run_round(
            launches, args.epochs, seed, args.cell_timeout, Path(tmp), cwd=process.ROOT,
            echo=args.verbose) if timed else [])}
        record = probe.stop()
        rows = []
        for cell in cells:
            outcome = outcomes.get(cell["arm"])
            verified = verdicts[cell["arm"]]
            if outcome is None:   # refused by the verification: never timed, no log
                measured, reason = None, f"not verified: {verified}"
            else:
                measured, reason = outcome.measured, outcome.reason
                cell = dict(cell, order=outcome.first_position or cell["order"])
                if reason:
                    logs = out / "logs" / cell_name(cell)
                    shutil.copytree(outcome.folder, logs, dirs_exist_ok=True)
                    reason += f" (log: {logs.relative_to(out)})"
            row = cell_columns(cell, args, machine, started, record, verified,
                               method=storage.TURNS_METHOD)
            if outcome is not None and outcome.turn_seconds:
                row["epoch_s_turns"] = storage.join_times(outcome.turn_seconds)
            rows.append(add_result(row, measured, reason, record, out, measured_peak))
    return rows


def _command(cell):
    def argv(result_path):
        return process.HARNESS + [json.dumps(cell), str(result_path)]
    return argv
