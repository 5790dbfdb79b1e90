"""A fake cell process for the turns tests: the harness's command line and hook, no ML.

    python tests/fake_turns_arm.py CELL_JSON RESULT_JSON

Cell keys: arm, epochs; seconds (the epoch times it reports, the warm-up first: known answers
for the ratios); stamps (a file it appends 'ARM EPOCH START END' to for each epoch, on the
machine's monotonic clock, which every process shares); work_s (how long an epoch sleeps);
die_at / hang_at (an epoch where it fails like a crashed cell, or never ends).
"""
import json
import os
import sys
import time
from pathlib import Path

from cell import turns   # the checkout is on PYTHONPATH: the test runs this with it


def main(argv):
    cell = json.loads(argv[0])
    hook = turns.current()
    for epoch in range(cell["epochs"]):
        hook.begin(epoch)
        start = time.monotonic()
        time.sleep(cell.get("work_s", 0.01))
        if epoch == cell.get("die_at"):
            print(f"cell failed: RuntimeError: {cell['arm']} died in epoch {epoch}",
                  file=sys.stderr, flush=True)
            os._exit(1)
        if epoch == cell.get("hang_at"):
            time.sleep(3600)
        end = time.monotonic()
        with open(cell["stamps"], "a") as stamps:   # one short line: appended whole
            stamps.write(f"{cell['arm']} {epoch} {start!r} {end!r}\n")
        hook.end(epoch, cell["seconds"][epoch])
    Path(argv[1]).write_text(json.dumps({"arm": cell["arm"],
                                         "epoch_s_timed": cell["seconds"][1:cell["epochs"]]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
