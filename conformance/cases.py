"""What a case is: its description, its drawn inputs, targets and weights (the corpus: corpus.py).

A case builds one Keras model through `keras` (keras-mxnet via shim/) from nothing but its
own description; its inputs, targets and weights are drawn from a seed by numpy alone, so the
same case gives the same numbers on any machine (tests/fixtures/conformance/ relies on it).
"""
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from keras_models.user_model import target

BATCH = 2
KINDS = ("layers", "applications", "examples")


@dataclass
class Case:
    name: str
    kind: str
    build: Callable            # build(keras) -> a model (compiled or not)
    inputs: list               # [(shape without batch, dtype, high)]: high > 0 draws ints below it
    loss: object = "mse"       # a Keras loss name, or a list of them (one per output)
    random: bool = False       # has training-time randomness (Dropout, noise layers)
    data_format: Optional[str] = None   # image_data_format while it builds (applications)
    note: str = ""
    batch: int = BATCH
    tags: dict = field(default_factory=dict)
    masked_tail: bool = False   # the first sample's last 2 steps zero: masking has work to do

    def seed(self):
        return zlib.crc32(self.name.encode("utf8"))

    def draw_inputs(self):
        rng = np.random.default_rng(self.seed())
        drawn = [rng.integers(1, high, (self.batch,) + tuple(shape)).astype(dtype) if high
                 else rng.normal(0, 1, (self.batch,) + tuple(shape)).astype(dtype)
                 for shape, dtype, high in self.inputs]
        if self.masked_tail:
            drawn[0][0, -2:] = 0
        return drawn

    def draw_targets(self, predictions):
        rng = np.random.default_rng(self.seed() + 1)
        losses = self.loss if isinstance(self.loss, list) else [self.loss] * len(predictions)
        return [target(rng, loss, p.shape) for loss, p in zip(losses, predictions)]


def draw_weights(case, shapes_and_names):
    """The case's weights, from its seed alone: a kernel's scale follows its fan whatever its
    layout; BatchNorm's statistics and scale are away from their defaults (gamma 1, beta 0,
    mean 0, variance 1 would hide a layer that ignores them), and variances stay positive."""
    from conformance.layout import short_name

    rng = np.random.default_rng(case.seed() + 2)
    drawn = []
    for name, shape in shapes_and_names:
        short = short_name(name)
        if short in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif short in ("beta", "bias", "moving_mean") or len(shape) < 2:
            value = rng.normal(0, 0.1, shape) + (0.2 if short == "alpha" else 0)
        else:
            two = sorted(shape)[-2:]
            value = rng.normal(0, 1 / np.sqrt(max(np.prod(shape) / two[0], 1)), shape)
        drawn.append(value.astype(np.float32))
    return drawn

