"""LeNet as a Gluon HybridBlock. It returns logits: the loss applies the softmax (fused)."""
import shim

mx = shim.import_mxnet()
from mxnet.gluon import nn

from scenarios import LENET


def build(s=LENET):
    padding = s.kernel_size // 2  # 'same'
    net = nn.HybridSequential()
    net.add(
        nn.Conv2D(s.conv_filters[0], s.kernel_size, padding=padding, activation="relu"),
        nn.MaxPool2D(s.pool_size, s.pool_size),
        nn.Conv2D(s.conv_filters[1], s.kernel_size, padding=padding, activation="relu"),
        nn.MaxPool2D(s.pool_size, s.pool_size),
        nn.Flatten(),
        nn.Dense(s.hidden_units, activation="relu"),
        nn.Dense(s.classes),
    )
    return net


def probabilities(logits):
    return mx.nd.softmax(logits)
