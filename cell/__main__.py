"""`python -m cell CELL_JSON RESULT_JSON`: one cell in this process (cell/harness.py, `main`).

The harness is imported here as `cell.harness`, the one name every module knows it by, so the
process holds one copy of it (run as a script it would be loaded twice: as __main__ and again
by whatever imported it).
"""
import sys

from cell.harness import main

sys.exit(main(sys.argv[1:]))
