"""The sweep's loop: its preflight, then round after round of cells, each row appended to
runs.csv as it comes and the folder's tables rewritten after it; adaptive rounds (--target-ci)
go on only where a ratio's CI is still too wide, within --budget-min."""
import collections
import time

from tqdm import tqdm

import benchdata
from report import headline, ratios, readme, storage, summary
from sweep import environment
from sweep import model as sweep_model
from sweep.args import UsageError
from sweep.console import cell_line, cell_what
from sweep.folder import output_folder
from sweep.plan import (arms, by_turns, configuration_name, configurations, plan, round_cells,
                        wide_configurations)
from sweep.rows import gpu_names, machine_columns, measure
from sweep.turn_rows import measure_round, turns_seed


class SweepStopped(Exception):
    """The folder stopped taking what the sweep writes (a full disk, an I/O error): one line,
    exit status 1; the rows already written are whole and --resume continues."""


def preflight(args):
    """Fail before any training: missing or corrupt data, unusable GPUs."""
    for name in [] if args.model else args.scenario:   # a --model sweep's data is synthetic
        try:
            benchdata.load(name, data=args.data, data_dir=args.data_dir, max_samples=1)
        except benchdata.DataError as error:
            raise UsageError(str(error))
    gpu_indices = sorted({i for c in args.ctx if c.kind == "gpu" for i in c.indices})
    if gpu_indices:
        from shim import gpu

        spec = "gpu:" + ",".join(map(str, gpu_indices))
        try:  # the static checks, then the smoke check in a child set up like a cell
            gpu.check(gpu_indices,
                      smoke_env=environment.cell_environment({"ctx": spec, "workers": 1}))
        except gpu.PreflightError as error:
            raise UsageError(str(error))
    return gpu_indices


def keep(cell, row, out, counts):
    """Append a finished cell's row to runs.csv (flushed and synced)."""
    try:
        counts[row["status"]] += 1
        storage.append_row(out / storage.RUNS_FILE, row)
    except OSError as error:
        raise SweepStopped(f"{out}: the row of {cell_what(cell)} round {cell['round']} was lost "
                           f"({error.strerror or error}); the rows before it are whole: make "
                           "room, then --resume")


def tables(args, out):
    """Rewrite the folder's tables from its rows: between cells (or rounds by turns) the
    tables only, as the whole page costs 3x; the page at the end."""
    try:
        rows = storage.read_machine(out)
        storage.replace_bytes(out / readme.SUMMARY_FILE, summary.summary_markdown(
            rows, title=args.label).encode())
        ratios.write_ratios_csv(out, rows, target=args.target_ci)
    except OSError as error:
        raise SweepStopped(f"{out}: summary.md or ratios.csv could not be written "
                           f"({error.strerror or error}); every row is in "
                           f"{storage.RUNS_FILE}: make room, then --resume")


def run_sweep(args):
    gpu_indices = preflight(args)
    out = output_folder(args)  # created and locked only for a command that passed its preflight
    csv_path = out / storage.RUNS_FILE
    machine = machine_columns(args.label, gpus=gpu_names(gpu_indices))
    configs = configurations(args)
    measured_peak = storage.load_peak(out)
    args.verified = sweep_model.verify(args, lambda ctx: environment.cell_environment(
        {"ctx": ctx, "workers": 1}))
    done = (storage.done_keys(csv_path, profiled=args.profile) if args.resume and csv_path.exists()
            else set())
    # Adaptive rounds: at least 3 (or --rounds), then only where the CI is too wide.
    first_rounds = max(args.rounds, 3) if args.target_ci else args.rounds
    last_round = max(first_rounds, args.max_rounds) if args.target_ci else first_rounds
    planned = plan(args, first_rounds)
    skipped = sum(storage.cell_key(c) in done for c in planned)
    if skipped:
        print(f"resuming: {skipped} of {len(planned)} cells already in {csv_path}")
    bar = tqdm(total=len(planned) - skipped, desc="sweep", unit="cell", disable=args.quiet)
    start = time.monotonic()
    round_seconds = {}     # configuration -> wall time of its last round, to respect the budget
    counts = collections.Counter()
    budget_spent = False
    for round_number in range(1, last_round + 1):
        todo = range(len(configs))
        if round_number > first_rounds:
            todo = wide_configurations(args, configs, storage.read_rows(csv_path))
            bar.total += sum(len(arms(args)) for _ in todo)
            bar.refresh()
        ran = 0   # configurations measured in this round; a spent budget stops a round of none
        for index in todo:
            config = configs[index]
            cells = [c for c in round_cells(args, config, round_number)
                     if storage.cell_key(c) not in done]
            if not cells:
                continue
            if args.budget_min and (time.monotonic() - start + round_seconds.get(index, 0)
                                    > args.budget_min * 60):
                budget_spent = True   # this configuration would not fit: a cheaper one may
                continue
            began = time.monotonic()
            if by_turns(config):   # the arms all at once (sweep/turns.py); the round runs whole
                whole = round_cells(args, config, round_number)
                bar.total += len(whole) - len(cells)   # a resumed round runs whole again
                cells = whole
                bar.set_postfix_str(f"{cell_what(cells[0])} r{round_number}, by turns")
                try:
                    found = measure_round(cells, args, out, machine, measured_peak, turns_seed(
                        args, round_number, configuration_name(config)))
                except OSError as error:
                    raise SweepStopped(f"{out}: the rows of {cell_what(cells[0])} round "
                                       f"{round_number} were lost ({error.strerror or error}); "
                                       "the rows before them are whole: make room, then --resume")
                for cell, row in zip(cells, found):
                    keep(cell, row, out, counts)
                tables(args, out)
                for row in found:
                    bar.update()
                    tqdm.write(cell_line(row))
            else:
                for cell in cells:
                    bar.set_postfix_str(f"{cell_what(cell)} r{cell['round']}")
                    try:
                        row, _ = measure(cell, args, out, machine, measured_peak)
                    except OSError as error:
                        raise SweepStopped(f"{out}: the row of {cell_what(cell)} round "
                                           f"{cell['round']} was lost ({error.strerror or error});"
                                           " the rows before it are whole: make room, then "
                                           "--resume")
                    keep(cell, row, out, counts)
                    tables(args, out)
                    bar.update()
                    tqdm.write(cell_line(row))
            round_seconds[index] = time.monotonic() - began
            ran += 1
        if not todo or (budget_spent and not ran):
            break
    bar.close()
    if budget_spent:
        print(f"budget of {args.budget_min:g} min spent in round {round_number}; configurations "
              f"that missed the target say so in {out / ratios.RATIOS_FILE} (unstable)")
    print(f"{counts['ok']} cells ok, {counts['failed']} failed; rows in {csv_path}, ratios in "
          f"{out / ratios.RATIOS_FILE}, summary in {out / readme.SUMMARY_FILE}")
    rows = storage.read_machine(out)
    try:   # the folder's whole page: conclusions, operator profile and models beside the tables
        storage.replace_bytes(out / readme.SUMMARY_FILE, readme.folder_page(out, rows).encode())
    except OSError as error:
        raise SweepStopped(f"{out}: summary.md could not be written ({error.strerror or error});"
                           f" every row is in {storage.RUNS_FILE}: `python -m report` writes it")
    table = headline.sweep_table(rows) if counts["ok"] else ""
    if table:   # the answer where it was measured, as pyperf and asv print theirs
        print(f"\n{headline.INTRO}\n\n{table}")
    return 0
