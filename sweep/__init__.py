"""The sweep: every cell of a `bench.py` command, each a fresh process (by turns:
all of a configuration's arms at once), its rows in runs.csv.

    args.py         the command line and its checks (UsageError: one line, exit status 2)
    model.py        --model: describing and verifying a user's model, in child processes
    plan.py         the arms, configurations and cells of each round; adaptive rounds
    environment.py  the process-wide settings every cell gets (OpenMP threads and the rest)
    process.py      running one cell's process (or a parameter-server group), and --peak's
    rows.py         one cell measured with its noise record: its runs.csv row
    console.py      how the terminal names a cell and its result
    folder.py       the results folder: where it is, its lock, what it already holds
    loop.py         the loop over rounds and cells, writing rows and tables as it goes
    turns.py        --method turns: a configuration's round with every arm alive at once, one
                    epoch each per turn (turn_arm.py: one arm's process and pipes;
                    turn_rows.py: the round's rows)

Importing `sweep` is cheap and none of it imports keras, mxnet or torch: bench.py's own process
holds no framework code.
"""
