"""The process-wide settings bench.py gives every cell of every implementation alike, and the
runs.csv record of them (`process_env`)."""
import os

from report import runs
from shim.contexts import parse_list


def omp_threads(cell=None):
    """OpenMP threads per process: this machine's cores shared out over what runs at once.

    MXNet runs each CPU context's operators on an engine thread of its own, and every worker of
    a local parameter-server group is a process of its own; each opens OpenMP teams (oneDNN, and
    the wheel's OpenMP build of OpenBLAS for the `dot` that keras-mxnet's Dense and LSTM use).
    With a team of every core per context, keras-mxnet on cpu:0-1 (2 cores) did not finish one
    epoch of 1024 samples in 45 s, an engine thread spinning in OpenBLAS's exec_blas (gdb), where
    with one thread each it trains at 1,225 samples/s; its CNN-LSTM on two local dist_sync
    workers spun for minutes likewise. One context in one process gets every core. That is
    --threads all; a count (--threads 1) is the team of every context of every process instead.
    MXNet's operators, the OpenMP build of OpenBLAS in its wheel and torch (torch_models/train.py)
    all take their threads from OMP_NUM_THREADS. Set OMP_NUM_THREADS yourself to override both.
    """
    cores = os.cpu_count() or 1
    if cell is None:
        return cores
    if runs.threads_of(cell) != "all":
        return int(cell["threads"])
    spec = parse_list(cell["ctx"])[0]
    at_once = (spec.devices if spec.kind == "cpu" else 1) * int(cell.get("workers") or 1)
    return max(1, cores // at_once)


# Process-wide settings bench.py gives every cell of every implementation (a value already in
# the environment wins, for all alike). cuDNN autotune 1 is MXNet's own default: convolutions
# get the fastest algorithm that fits MXNet's workspace limit, picked once per input shape in
# the first batches of that shape, all of which fall in the warm-up epoch (not timed). Keras and
# Gluon run the same convolution operator, so both get the same choice; 0 would time cuDNN's
# untuned default on both sides instead, which is not what either API gives its users.
PROCESS_SETTINGS = {
    "MXNET_CUDNN_AUTOTUNE_DEFAULT": "1",
    "MXNET_SUBGRAPH_VERBOSE": "0",  # one 'backend activated' line per graph, otherwise
    "PYTHONUNBUFFERED": "1",        # the cell's progress reaches us as it happens
}
# Inherited variables that change how fast the libraries run; recorded with the settings.
SPEED_VARIABLE_PREFIXES = ("MXNET_", "OMP_", "KMP_", "MKL_", "OPENBLAS_", "DNNL_", "ONEDNN_",
                           "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")


def cell_environment(cell=None):
    """Process-wide settings, the same for every implementation's cells; see omp_threads."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(omp_threads(cell)))
    for name, value in PROCESS_SETTINGS.items():
        env.setdefault(name, value)
    # mx.gpu(i) = nvidia-smi's i, as the preflight judged: forced, a user's FASTEST_FIRST would
    # make the cells open other GPUs than the preflight checked
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    return env


def process_env(env):
    """The runs.csv record of a cell's process-wide settings: 'NAME=value ...', sorted."""
    return " ".join(f"{name}={value}" for name, value in sorted(env.items())
                    if name in PROCESS_SETTINGS or name.startswith(SPEED_VARIABLE_PREFIXES))
