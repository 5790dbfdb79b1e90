"""The results folder of a sweep: results/<label> or --out, taken under its lock, and what it
already holds (an earlier sweep's rounds, rows of an older method) that a new sweep must not
mix with its own."""
import itertools
from pathlib import Path

from report import storage
from sweep.args import UsageError, default_label
from sweep.console import cell_what
from sweep.plan import plan

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def earlier_rounds(out, args):
    """A planned cell whose configuration already has finished rows in `out`, or None.

    Ratios pair rows by round, so a new sweep that wrote its round 1 beside an earlier sweep's
    rounds would mix two sweeps in one ratio; only --resume continues a sweep."""
    if args.resume:
        return None
    found = {storage.configuration_of(k)
             for k in storage.done_keys(out / storage.RUNS_FILE, profiled=args.profile)}
    return next((c for c in plan(args, 1) if storage.configuration_of(storage.cell_key(c)) in found),
                None)


def older_method(out):
    """The oldest measurement method among `out`'s rows, if older than this bench.py's."""
    if not (out / storage.RUNS_FILE).is_file():
        return None
    oldest = min((storage.method_of(r) for r in storage.read_rows(out)), default=storage.METHOD)
    return oldest if oldest < storage.METHOD else None


def output_folder(args):
    """results/<label> or --out; a default label moves on to <label>-2, -3, ... past folders
    that hold an earlier sweep of these cells; a folder named by the user is refused then, and
    so is --resume of a sweep measured by an older method (report/storage.py, METHOD)."""
    if args.out or args.label:
        args.label = args.label or default_label()
        out = Path(args.out or RESULTS / args.label)
        hold(out, args)
        cell = earlier_rounds(out, args)
        if cell:
            raise UsageError(f"{out} already holds an earlier sweep's rounds of "
                             f"{cell_what(cell)}; add --resume to continue that sweep, or name a "
                             "new --label")
    else:
        base = default_label()
        for n in itertools.count(1):
            args.label = base if n == 1 else f"{base}-{n}"
            out = RESULTS / args.label
            # Decided under the folder's lock, so two sweeps started together never pick one
            # folder; a folder in use is another sweep's (with --resume: refused, it is ours).
            if not hold(out, args, refuse=args.resume):
                continue
            if not earlier_rounds(out, args):
                break
            storage.release(out)
        if n > 1:
            print(f"{RESULTS / base} holds an earlier or a running sweep of these cells: this one "
                  f"writes {out} (--resume continues the earlier one)")
    older = older_method(out) if args.resume else None
    if older is not None:
        raise UsageError(f"{out} was measured by method {older}, this bench.py "
                         f"measures by method {storage.METHOD} (see report/storage.py): its rounds "
                         "would not compare with new ones; start a new sweep (--label)")
    return out


def hold(out, args, refuse=True):
    """Take `out`'s lock for this sweep (report/storage/locks.py), creating the folder and proving it
    writable; False when another sweep holds it, or with `refuse` one line naming that sweep."""
    try:
        holder = storage.claim(out, command=args.command)
    except storage.FolderError as error:
        raise UsageError(str(error))
    if holder and refuse:
        raise UsageError(f"{out} is in use by a running sweep ({holder}); wait for it to end, "
                         "or name another --label")
    return not holder
