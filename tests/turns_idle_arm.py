"""A real framework process under the turns hook, for tests/test_turns_idle.py.

    python tests/turns_idle_arm.py mxnet|torch

It runs a few operators of the kind the arms run (convolution, dense, an LSTM step's GEMMs) on
every OpenMP thread, as epoch 0, then asks for the turn of epoch 1 and blocks in the hook while
the test samples its CPU time; epoch 1 runs the operators again when the turn comes.
"""
import sys
import time

from cell import turns   # the checkout is on PYTHONPATH: the test runs this with it


def mxnet_work():
    import shim

    mx = shim.import_mxnet()
    data = mx.nd.random.uniform(shape=(128, 1, 28, 28))
    weight = mx.nd.random.uniform(shape=(20, 1, 5, 5))
    dense = mx.nd.random.uniform(shape=(500, 2450))

    def work():
        for _ in range(5):
            conv = mx.nd.Convolution(data, weight, no_bias=True, kernel=(5, 5), num_filter=20)
            flat = mx.nd.random.uniform(shape=(128, 2450))
            mx.nd.FullyConnected(flat, dense, no_bias=True, num_hidden=500)
            mx.nd.dot(flat, dense, transpose_b=True)
            conv.wait_to_read()
        mx.nd.waitall()
    return work


def torch_work():
    import torch

    data, weight = torch.rand(128, 1, 28, 28), torch.rand(20, 1, 5, 5)
    flat, dense = torch.rand(128, 2450), torch.rand(500, 2450)

    def work():
        for _ in range(5):
            torch.nn.functional.conv2d(data, weight)
            flat @ dense.T
    return work


def main(framework):
    work = {"mxnet": mxnet_work, "torch": torch_work}[framework]()
    hook = turns.current()
    for epoch in range(2):
        hook.begin(epoch)
        start = time.perf_counter()
        work()
        hook.end(epoch, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
