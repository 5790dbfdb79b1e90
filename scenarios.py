"""The two scenarios, described once: every implementation builds its model from these fields.

Hyperparameters follow Keras's defaults wherever the scenario doesn't set them, because the
question is what Keras costs, so Keras's choices define the experiment; the Gluon (and PyTorch)
models copy them explicitly:
- weights Glorot-uniform, biases zero; Keras's Embedding default is uniform(-0.05, 0.05); Keras's
  LSTM recurrent kernel is orthogonal and its forget-gate bias starts at 1 (unit_forget_bias).
- LSTM gates use the logistic sigmoid on every side (Keras 2.2.4's default is hard_sigmoid, which
  MXNet's fused LSTM and cuDNN don't offer, so the Keras model asks for 'sigmoid').
- Adam's epsilon is keras-mxnet's default, 1e-8 (MXNet's too).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Optimizer:
    name: str                 # 'sgd' or 'adam'
    learning_rate: float
    beta1: float = 0.9        # adam only
    beta2: float = 0.999      # adam only
    epsilon: float = 1e-8     # adam only


@dataclass(frozen=True)
class LeNet:
    name = "lenet"
    title = "LeNet on MNIST"
    dataset = "mnist"
    input_shape: tuple = (1, 28, 28)   # channels first, scaled to [0, 1]
    conv_filters: tuple = (20, 50)
    kernel_size: int = 5               # 'same' padding
    pool_size: int = 2                 # stride = pool size
    hidden_units: int = 500
    classes: int = 10
    loss = "categorical_crossentropy"
    optimizer: Optimizer = Optimizer("sgd", 0.05)
    train_samples: int = 60000
    val_samples: int = 10000

    def flops_per_sample(self):
        """Forward multiply-adds x 2 for the convolutions and dense layers."""
        channels, height, width = self.input_shape
        flops = 0
        for filters in self.conv_filters:  # 'same' convolution, then pooling
            flops += 2 * height * width * filters * channels * self.kernel_size ** 2
            channels = filters
            height, width = height // self.pool_size, width // self.pool_size
        flops += 2 * channels * height * width * self.hidden_units
        flops += 2 * self.hidden_units * self.classes
        return flops

    def parameter_count(self):
        channels, height, width = self.input_shape
        count = 0
        for filters in self.conv_filters:
            count += filters * (channels * self.kernel_size ** 2 + 1)
            channels = filters
            height, width = height // self.pool_size, width // self.pool_size
        count += self.hidden_units * (channels * height * width + 1)
        count += self.classes * (self.hidden_units + 1)
        return count


@dataclass(frozen=True)
class CnnLstm:
    name = "rnn"
    title = "CNN-LSTM on IMDB"
    dataset = "imdb"
    vocabulary: int = 5000             # top words kept; 0 pads, 1 starts, 2 is out-of-vocabulary
    sequence_length: int = 500
    embedding_dim: int = 32
    embedding_init_scale: float = 0.05  # Keras's Embedding default: uniform(-0.05, 0.05)
    conv_filters: int = 32
    kernel_size: int = 3               # 'same' padding, ReLU
    pool_size: int = 2
    lstm_units: int = 100
    forget_bias: float = 1.0           # Keras's unit_forget_bias
    loss = "binary_crossentropy"
    optimizer: Optimizer = Optimizer("adam", 0.001)
    train_samples: int = 25000
    val_samples: int = 25000

    @property
    def input_shape(self):
        return (self.sequence_length,)

    def flops_per_sample(self):
        steps = self.sequence_length // self.pool_size
        gates = 4 * self.lstm_units
        flops = 2 * self.sequence_length * self.conv_filters * self.embedding_dim * self.kernel_size
        flops += 2 * steps * gates * (self.conv_filters + self.lstm_units)
        flops += 2 * self.lstm_units
        return flops  # the embedding is a lookup: no arithmetic

    def parameter_count(self):
        gates = 4 * self.lstm_units
        return (self.vocabulary * self.embedding_dim
                + self.conv_filters * (self.embedding_dim * self.kernel_size + 1)
                + gates * (self.conv_filters + self.lstm_units + 1)
                + self.lstm_units + 1)


LENET = LeNet()
RNN = CnnLstm()
SCENARIOS = {s.name: s for s in (LENET, RNN)}

# Training costs about three forward passes: the forward, and the two products of the backward.
TRAINING_FLOPS_PER_FORWARD = 3


def get(name):
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; use one of {', '.join(SCENARIOS)}") from None
