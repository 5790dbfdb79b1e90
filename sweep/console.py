"""How the terminal names a cell and its result: a line per finished cell."""
from report import storage


def cell_what(cell):
    """A cell's configuration and arm, as the terminal names them: 'lenet keras cpu b128', and
    '... b128 1 thread' under --threads 1 (a count is named; all, the default, is not)."""
    threads = storage.threads_of(cell)
    what = f"{cell['scenario']} {cell['arm']} {cell['ctx']} b{cell['batch_size']}"
    if threads == "all":
        return what
    return f"{what} {threads} thread{'' if threads == '1' else 's'}"


def cell_line(row):
    """The one terminal line of a finished cell."""
    what = f"{cell_what(row)} round {row['round']} (#{row['order']})"
    if storage.by_turns(row):
        what += " by turns"   # order: the arm's place in the first turn
    if row["status"] != "ok":
        return f"cell failed: {what}: {row['reason']}"
    text = (f"{what}: {row['epoch_s_median']:.3f} s/epoch, {row['samples_per_s']:,.0f} "
            "samples/s")
    return text + (f" [noise: {row['noise_flags']}]" if row.get("noise_flags") else "")
