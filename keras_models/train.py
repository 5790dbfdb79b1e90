"""Train a scenario with keras-mxnet's stock `model.fit`: that loop is the layer being measured.

`fit` is called once per epoch on that epoch's order of the data (the harness's order, the same
one Gluon uses) with shuffle=False; the epoch is timed by a callback from `on_epoch_begin` to
`on_epoch_end` after a device sync, so `fit`'s per-call set-up is not charged to Keras.

With kvstore 'dist_sync' the process is one worker of a parameter-server group (distributed/):
`compile(kvstore=...)` (honoured through the shim) and `fit` on this worker's shard, in batches of
batch_size / workers.

With `fixes` (the keras-fused arms) the process first enables those fixes of the opt-in fused
path (shim/fused/), before the model is built: the same model files, the same `fit`. The row
records the fixes applied and, per layer the path looked at, whether it fused it (fused_columns).
"""
import time

import numpy as np
from tqdm import tqdm

from shim import precision
from shim.keras_mxnet import keras
import mxnet as mx

import distributed
from cell import profiling, turns
from cell.contract import Trained, take
from keras_models import lenet, rnn

BUILDERS = {"lenet": lenet.build, "rnn": rnn.build}
INITIAL_WEIGHTS_SEED = 0


class EpochTimer(keras.callbacks.Callback):
    """Times each epoch; with a profile, brackets the timed epochs with it (cell/profiling.py);
    under turns (cell/turns.py), waits for the epoch's turn before it and reports its time
    after."""

    def __init__(self, profile=None):
        super().__init__()
        self.seconds, self.cpu_seconds = [], []
        self.profile = profile or profiling.for_mxnet(False)
        self.turn = turns.current()

    def on_epoch_begin(self, epoch, logs=None):
        self.turn.begin(epoch)
        mx.nd.waitall()
        self.profile.begin(epoch)
        self.start, self.cpu_start = time.perf_counter(), time.thread_time()

    def on_epoch_end(self, epoch, logs=None):
        mx.nd.waitall()
        self.seconds.append(time.perf_counter() - self.start)
        self.cpu_seconds.append(time.thread_time() - self.cpu_start)
        self.profile.end(epoch)
        self.turn.end(epoch, self.seconds[-1])


def optimizer(spec):
    if spec.name == "sgd":
        return keras.optimizers.SGD(lr=spec.learning_rate)
    return keras.optimizers.Adam(lr=spec.learning_rate, beta_1=spec.beta1, beta_2=spec.beta2,
                                 epsilon=spec.epsilon)


def trained_weights(model):
    """The weights as the MXNet module holds them, by name (keras-mxnet's `get_weights()`
    returns a foreach LSTM's initial weights after training; see tests/test_shim.py)."""
    args, _ = model._module.get_params()
    return [args[name].asnumpy() for name in sorted(args)]


def compiled_model(scenario, context, **options):
    """The scenario's model, compiled as it is trained here (keras_models.graph takes its graph).

    Keras draws most initial weights from MXNet's generator, whose default seed is the same in
    every process, but its Orthogonal initializer (the LSTM's recurrent kernel) from numpy's
    global generator, unseeded: seeding it makes every process, the Keras arm's and
    keras-graph's, start from the same weights.
    """
    if getattr(scenario, "user_model", False):   # bench.py --model: compiled by the user
        return scenario.compiled(context, **options)
    np.random.seed(INITIAL_WEIGHTS_SEED)
    model = BUILDERS[scenario.name](scenario)
    model.compile(optimizer=optimizer(scenario.optimizer), loss=scenario.loss,
                  metrics=["accuracy"], context=context.keras(), **options)
    return model


def targets(scenario, labels):
    """Labels as the model's loss takes them: one-hot for the categorical cross-entropy. A
    user's model's synthetic targets are made so already (keras_models/user_model.py)."""
    if getattr(scenario, "user_model", False):
        return labels
    if scenario.loss == "categorical_crossentropy":
        return keras.utils.to_categorical(labels, scenario.classes)
    return labels


def last(values):
    return float(values[-1]) if values else None


def enable_fixes(fixes):
    """Turn on the fused path's `fixes` for this process; they must be what it then reports on,
    or the row would name fixes the arm did not run."""
    from shim import fused

    fused.enable(list(fixes))
    if set(fused.enabled()) != set(fixes):
        raise RuntimeError(f"shim.fused.enable({list(fixes)}) left {fused.enabled()} on")


def fused_columns():
    """The runs.csv columns of a keras-fused arm, once its model is built: `fixes` ('bias+rnn'),
    `fused_layers` ('conv2d_1:bias lstm_1:rnn') and `kept_layers` ('dense_1:bias (why) | ...',
    layers the path looked at and left stock, with its reason)."""
    from shim import fused

    looked = fused.layers()
    return {
        "fixes": "+".join(fused.enabled()),
        "fused_layers": " ".join(f"{one['layer']}:{one['fix']}" for one in looked
                                 if one["fused"]),
        "kept_layers": " | ".join(f"{one['layer']}:{one['fix']} ({one['reason']})"
                                  for one in looked if not one["fused"]),
    }


def train(scenario, data, context, batch_size, epochs, order, progress=True, kvstore=None,
          dtype="float32", profile=False, fixes=None):
    precision.use(dtype)  # before the model is built
    if fixes is not None:
        enable_fixes(fixes)   # after AMP's wrapping of the operators, before the model
    workers, group, options = 1, None, {}
    if kvstore:  # one worker of a parameter-server group (distributed/)
        group = distributed.Worker(kvstore, batch_size)
        workers, order, options = group.workers, group.sharded(order), {"kvstore": group.kvstore}
    model = compiled_model(scenario, context, **options)
    y_train = targets(scenario, data.y_train)

    timer = EpochTimer(profiling.for_mxnet(profile))
    for epoch in tqdm(range(epochs), desc=f"keras {scenario.name}", unit="epoch",
                      disable=not progress, leave=False):
        index = order(epoch)
        history = model.fit(take(data.x_train, index), take(y_train, index),
                            batch_size=batch_size // workers,
                            initial_epoch=epoch, epochs=epoch + 1, shuffle=False, verbose=0,
                            callbacks=[timer])

    start = time.perf_counter()
    probabilities = model.predict(data.x_val, batch_size=batch_size)
    mx.nd.waitall()
    val_seconds = time.perf_counter() - start

    return Trained(
        epoch_seconds=timer.seconds,
        loop_cpu_seconds=timer.cpu_seconds,
        train_loss=float(history.history["loss"][-1]),
        train_accuracy=last(history.history.get("acc")),   # a user's model may have none
        val_probabilities=probabilities,
        val_seconds=val_seconds,
        trainable_parameters=keras.utils.layer_utils.count_params(model.trainable_weights),
        extra={**(fused_columns() if fixes is not None else {}),
               **(group.finish(trained_weights(model)) if group else {})},
        train_samples=len(index),
        operators=timer.profile.operators(),
    )
