"""Storage: the runs.csv schema (schema), reading and appending rows (rows), a cut last row set
aside and whole-file writes (damage), one sweep per folder (locks). Nothing here analyses or
renders; bench.py and the report take their names from here."""
from report.storage.damage import DAMAGED_SUFFIX, replace_bytes
from report.storage.locks import LOCK_FILE, FolderError, claim, release, release_all, running
from report.storage.rows import (append_operators, append_row, done_keys, fraction_of_peak,
                                 join_times, load_peak, read_machine, read_operators, read_rows,
                                 replace_csv, turn_times)
from report.storage.schema import (COLUMNS, ESSENTIAL, KEY_COLUMNS, METHOD, OPERATOR_COLUMNS,
                                   OPERATORS_FILE, PEAK_FILE, RUNS_FILE, TURNS_METHOD, ReportError,
                                   by_turns, cell_key, configuration_of, device_kind, method_of,
                                   threads_of)
