"""LeNet as a torch Module. It returns logits: the loss applies the softmax (fused)."""
import torch
from torch import nn

from scenarios import LENET


def build(s=LENET):
    channels, height, width = s.input_shape
    padding = s.kernel_size // 2  # 'same' (odd kernel)
    for _ in s.conv_filters:
        height, width = height // s.pool_size, width // s.pool_size
    return nn.Sequential(
        nn.Conv2d(channels, s.conv_filters[0], s.kernel_size, padding=padding),
        nn.ReLU(),
        nn.MaxPool2d(s.pool_size, s.pool_size),
        nn.Conv2d(s.conv_filters[0], s.conv_filters[1], s.kernel_size, padding=padding),
        nn.ReLU(),
        nn.MaxPool2d(s.pool_size, s.pool_size),
        nn.Flatten(),  # (C, H, W) order, as Gluon's (Keras's channels_first Flatten: (H, W, C))
        nn.Linear(s.conv_filters[1] * height * width, s.hidden_units),
        nn.ReLU(),
        nn.Linear(s.hidden_units, s.classes),
    )


def initialize(net, s=LENET):
    """Keras's defaults: Glorot-uniform weights, zero biases."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)


def probabilities(logits):
    return torch.softmax(logits, dim=1)
