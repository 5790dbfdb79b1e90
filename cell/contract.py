"""The contract between the harness (cell/harness.py) and the implementations it times.

An implementation module (keras_models.train, keras_models.graph, gluon_models.train,
torch_models.train) imports this module, never the harness: the harness imports the
implementations, so the dependency runs one way and a cell holds one copy of each module.

It has
    train(scenario, data, context, batch_size, epochs, order, progress, dtype) -> Trained
where `order(epoch)` is `epoch_order` for that cell, and the harness scores the validation
probabilities it returns with `evaluate`. The rules that must be identical across
implementations live here: the per-epoch order of the data, how loss and accuracy are computed,
how the samples of an input (one array, or a list of them for a model of several inputs) are
counted and taken.
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Trained:
    """What an implementation hands back; the harness derives every reported figure from it."""
    epoch_seconds: list          # wall time of each epoch's training, the warm-up first
    train_loss: float            # mean over the last epoch's samples
    train_accuracy: float
    val_probabilities: np.ndarray
    val_seconds: float
    trainable_parameters: int
    extra: dict = field(default_factory=dict)   # implementation-specific record columns
    train_samples: int = None    # samples trained per epoch when not all of them (a dist worker's shard)
    loop_cpu_seconds: list = None  # CPU time of the training loop's own thread, per epoch (MXNet)
    operators: list = None       # with profile: {'operator', 'calls', 'total_ms'} over the timed epochs


def epoch_order(n, seed, epoch):
    """The order in which every implementation visits the training set in `epoch`."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def evaluate(scenario, labels, probabilities):
    """(loss, accuracy) of predicted probabilities, the same way for every implementation.

    Cross-entropy clips probabilities to [1e-7, 1 - 1e-7] as Keras does.
    """
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7)
    labels = np.asarray(labels)
    if scenario.loss == "categorical_crossentropy":
        p = p.reshape(len(labels), -1)
        loss = -np.log(p[np.arange(len(labels)), labels.astype(np.int64)]).mean()
        accuracy = (p.argmax(axis=1) == labels).mean()
    else:
        p = p.reshape(len(labels))
        loss = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean()
        accuracy = ((p > 0.5) == (labels > 0.5)).mean()
    return float(loss), float(accuracy)


def take(arrays, index):
    """Rows `index` of an input or target: one array, or a list of them."""
    return [a[index] for a in arrays] if isinstance(arrays, list) else arrays[index]


def sample_count(arrays):
    """The samples of an input or target: one array, or a list of them (a user's model of
    several inputs or outputs, keras_models/user_model.py)."""
    return len(arrays[0] if isinstance(arrays, list) else arrays)
