"""Reading and writing benchmark rows (runs.csv), and turning them into tables, plots and a README."""
from report.runs import (COLUMNS, ESSENTIAL, KEY_COLUMNS, ReportError, append_row, cell_key,
                         done_keys, read_rows)

__all__ = ["COLUMNS", "ESSENTIAL", "KEY_COLUMNS", "ReportError", "append_row", "cell_key",
           "done_keys", "read_rows"]
