"""`bench.py --peak`: this machine's FP32 GEMM rate (cell/peak.py), measured in a process set
up like a cell's and kept beside the sweep's rows, whose GFLOP/s the report reads against it."""
import json
import subprocess
import sys
from pathlib import Path

from cell import peak
from report import runs
from sweep import environment, folder
from sweep.args import UsageError, default_label
from sweep.process import ROOT


def measure_peak(args):
    """Run cell/peak.py in a process set up like a cell's; keep the result beside the runs."""
    out = Path(args.out or folder.RESULTS / (args.label or default_label()))
    done = subprocess.run([sys.executable, "-c", "import json; from cell import peak; "
                           "print(json.dumps(peak.measure_peak()))"], cwd=ROOT, text=True,
                          capture_output=True, env=environment.cell_environment())
    if done.returncode:
        raise UsageError(f"peak measurement failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout)
    out.mkdir(parents=True, exist_ok=True)
    peak.save_peak(out / runs.PEAK_FILE, result)
    print(f"peak FP32 GEMM on the CPU: {result['gflops']} GFLOP/s through mxnet "
          f"({result['numpy_gflops']} through numpy); saved in {out / runs.PEAK_FILE}")
    return 0
