"""Host arrays into MXNet without slowing down every operator after them.

MXNet copies an array of `MXNET_CPU_PARALLEL_SIZE` elements or more (default 200,000) with an
OpenMP loop on the calling thread. On the Python thread that opens a second OpenMP team beside
the engine's, and it stays for the thread's life: libgomp then manages more threads than there
are cores, and from then on its threads stop spinning between parallel regions (libgomp's
"throttled" spin; the same happens with OMP_WAIT_POLICY=PASSIVE), so every operator the engine
runs waits for its team to be woken. Holding MNIST or the IMDB prefix as one MXNet array did that
to Gluon's whole run (measured: docs/methodology.md), while Keras's fit copies batch by batch, below
the threshold at batch 128.

`ndarray` makes the copy on a short-lived thread instead, whose team ends with it. The training
code of Gluon and keras-graph, and peak.py, convert through it; keras-mxnet's own fit is measured
as it is (at batch 512 its per-batch copies are above the threshold: that cost is Keras's).
"""
import os
from concurrent.futures import ThreadPoolExecutor

from shim import import_mxnet


def ndarray(source, dtype=None):
    """`mx.nd.array(source, dtype=dtype)` on the CPU, copied off the calling thread."""
    mx = import_mxnet()
    return off_thread(mx.nd.array, source, ctx=mx.cpu(), dtype=dtype)


def off_thread(function, *args, **kwargs):
    """function(*args, **kwargs) on a short-lived thread, whose OpenMP team ends with it (a copy
    between MXNet and numpy either way opens one for a large array)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="host-copy") as copier:
        return copier.submit(function, *args, **kwargs).result()


def copied_in_parallel(elements):
    """Whether MXNet copies an array of this many elements, to or from the host, with an
    OpenMP loop on the calling thread."""
    return elements >= int(os.environ.get("MXNET_CPU_PARALLEL_SIZE", 200000))
