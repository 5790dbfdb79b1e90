"""What a sweep runs: its arms, its configurations, the cells of each round in their shuffled
order, and (adaptive rounds, --target-ci) the configurations that need another round."""
import random

from cell import arms as registry
from report import frame, ratios, storage
from sweep import model as sweep_model
from sweep.args import fused_arm, is_fused


def arms(args):
    """(arm, implementation) pairs: one per --impl, plus the A/A control with --control (of
    keras for a --model sweep, which has no gluon arm)."""
    found = [(impl, impl) for impl in args.impl]
    if args.control:
        control = registry.control_for(args.model)
        found.append((control.name, control.runs))
    return found


def configurations(args):
    """Every configuration of the sweep (scenario x ctx x batch x threads x method; dtype and
    workers are one each), in the order run within a round. Each is a cell without its arm and
    round; its `method` is runs.csv's (report/storage.py: METHOD for rounds, TURNS_METHOD).

    The thread settings and methods of a ctx and batch run one after the other, so that the
    per-core and the whole-machine answers, and the two methods, of a round see about the same
    machine."""
    group = ({"kvstore": "dist_sync", "workers": args.workers} if args.kvstore == "dist_sync"
             else {"workers": 1})
    return [{"scenario": name, "ctx": ctx.spec, "batch_size": batch, "epochs": args.epochs,
             "data": args.data, "data_dir": args.data_dir, "max_samples": args.max_samples,
             "seed": args.seed, "quiet": args.quiet or not args.verbose, "dtype": args.dtype,
             "threads": threads, **group, **({"profile": True} if args.profile else {}),
             **sweep_model.cell_columns(args), "method": METHODS[method]}
            for name in args.scenario for ctx in args.ctx for batch in args.batch_sizes
            for threads in args.threads for method in args.method]


# --method's names and runs.csv's `method` values
METHODS = {"rounds": storage.METHOD, "turns": storage.TURNS_METHOD}


def by_turns(config):
    return config["method"] == storage.TURNS_METHOD


def configuration_name(config):
    """A configuration's name in the seeds of its shuffles: lenet-cpu-128-float32-1[-t1]."""
    name = f"{config['scenario']}-{config['ctx']}-{config['batch_size']}-{config['dtype']}-" \
           f"{config['workers']}"
    if storage.threads_of(config) != "all":   # 'all' keeps the shuffles of sweeps from before it
        name += f"-t{config['threads']}"
    return name


def round_cells(args, config, round_number):
    """The cells of one configuration in one round: its arms in an order shuffled afresh each
    round, seeded from --seed, the round and the configuration (so a resumed sweep replays it).

    Fixed orders bias: whichever arm runs second inherits the first one's heat, caches and
    neighbours (Abedi & Brecht, ICPE 2017); shuffling spreads that over both sides. (By turns
    the arms run at once, and each turn's order is shuffled instead: sweep/turns.py.)
    """
    order = arms(args)
    random.Random(f"{args.seed}-{round_number}-{configuration_name(config)}").shuffle(order)
    return [dict(config, impl=impl, arm=arm, round=round_number, repeat=round_number,
                 order=position, **({"fixes": list(fused_arm(arm)[1])} if is_fused(arm) else {}))
            for position, (arm, impl) in enumerate(order, start=1)]


def plan(args, rounds=None):
    """Every cell of the sweep's first `rounds` (default --rounds) rounds, in the order run;
    adaptive rounds (--target-ci) add more as the sweep goes."""
    return [cell for round_number in range(1, (rounds or args.rounds) + 1)
            for config in configurations(args) for cell in round_cells(args, config, round_number)]


def wide_configurations(args, configs, rows):
    """Indices of the configurations whose ratios' CI is still wider than --target-ci.

    Every pair of this sweep's arms counts except the A/A control (the noise floor is a
    measurement, not an answer); a configuration without a ratio (its arms never both finished,
    or it has a single arm) gets no more rounds: they would not narrow anything.
    """
    arm_names = {arm for arm, _ in arms(args)}
    pairs = [p for p in registry.pairs_for(arm_names)
             if set(p) <= arm_names and not registry.is_control(p[0])]
    mine = [r for r in rows if r.get("max_samples") == args.max_samples]
    wide = {(*r.group, r.batch_size) for r in ratios.all_pairs(mine, pairs)
            if r.half_width is None or r.half_width > args.target_ci}
    # a planned configuration, keyed as the report keys its rows (thread setting and model too)
    planned = frame.records(frame.as_frame(configs))
    return [i for i, c in enumerate(planned) if tuple(c[k] for k in frame.LINE) in wide]
