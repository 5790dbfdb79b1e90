"""The data-parallel Gluon training loop both scenarios share (`fit`), and Gluon's models on it.

Each global batch is split over the contexts with `gluon.utils.split_and_load`; every device
computes per-sample losses, and `Trainer.step(batch)` divides the summed gradients by the global
batch: the gradient of the mean loss over the global batch, as Keras computes it.

Nothing inside a timed epoch converts to numpy or waits on the device: the epoch's data is put
in order and onto the host as NDArrays before the clock starts (Keras gets the same ordered
arrays before its clock starts), and loss and accuracy are summed on the devices and read after.

With kvstore 'dist_sync' the process is one worker of a parameter-server group (distributed/):
it trains its shard of each epoch in batches of batch_size / workers, and `step` still gets the
global batch, since dist_sync sums the gradients of all workers.

`fit` takes any built network and its loss: keras_models.graph trains Keras's own training graph
with it (the `keras-graph` implementation), so the two differ in the graph alone.
"""
import time
from dataclasses import dataclass

from tqdm import tqdm

import shim
from shim import arrays, precision

mx = shim.import_mxnet()
from mxnet import autograd, gluon, init

import distributed
from cell import profiling, turns
from cell.contract import Trained
from gluon_models import lenet, rnn

MODELS = {"lenet": lenet, "rnn": rnn}
GLOROT_UNIFORM = init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3)


def loss_and_correct(scenario):
    """Per-sample loss on logits, and a count of correct predictions, for one scenario."""
    if scenario.loss == "categorical_crossentropy":
        loss = gluon.loss.SoftmaxCrossEntropyLoss()
        def correct(logits, labels):
            return (logits.argmax(axis=1) == labels).sum()
    else:
        loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
        def correct(logits, labels):
            return ((logits.reshape((-1,)) > 0) == labels).sum()
    return loss, correct


def trainer(net, spec, kvstore):
    if spec.name == "sgd":
        params = {"learning_rate": spec.learning_rate}
    else:
        params = {"learning_rate": spec.learning_rate, "beta1": spec.beta1, "beta2": spec.beta2,
                  "epsilon": spec.epsilon}
    return gluon.Trainer(net.collect_params(), spec.name, params, kvstore=kvstore)


def split(batch, contexts):
    # even_split=False only for an epoch's last, partial batch; full batches split evenly
    # (bench.py refuses a global batch that does not).
    return gluon.utils.split_and_load(batch, contexts, even_split=False)


def train(scenario, data, context, batch_size, epochs, order, progress=True, kvstore="device",
          dtype="float32", profile=False):
    precision.use(dtype)  # before the model is built
    contexts = context.mxnet()
    group = distributed.Worker(kvstore, batch_size) if kvstore.startswith("dist") else None
    model = MODELS[scenario.name]
    net = model.build(scenario)
    net.initialize(GLOROT_UNIFORM, ctx=contexts)  # biases: each layer's own 'zeros'
    net.hybridize(static_alloc=True, static_shape=True)
    loss_fn, correct_fn = loss_and_correct(scenario)

    def forward(x, y):  # one device's part of a batch: per-sample losses, and the logits
        logits = net(x)
        return loss_fn(logits, y), logits

    def tally(losses, logits, y):  # its summed loss and correct predictions, on the device
        return losses.sum(), correct_fn(logits, y)

    x_train = arrays.ndarray(data.x_train, dtype=data.x_train.dtype)  # shim/arrays.py: why
    y_train = arrays.ndarray(data.y_train, dtype="float32")
    fitted = fit(forward, tally, net, scenario.optimizer, x_train, y_train, contexts, batch_size,
                 epochs, order, group, kvstore, progress=progress, desc=f"gluon {scenario.name}",
                 profile=profile)

    start = time.perf_counter()
    probabilities = predict(lambda x: model.probabilities(net(x)), data.x_val, contexts, batch_size)
    val_seconds = time.perf_counter() - start
    return fitted.trained(net, contexts, group, probabilities, val_seconds)


def fit(forward, tally, net, optimizer, x_train, y_train, contexts, batch_size, epochs, order,
        group=None, kvstore="device", progress=True, desc="", profile=False, mean_loss=False):
    """Train `net` over the epochs: the data-parallel loop (see the module's docstring).

    forward(x, y) -> (loss, outputs) for one device's part of a batch, recorded by autograd;
    tally(loss, outputs, y) -> (summed loss, correct predictions) of that part, on its device.
    Trainer.step divides the summed gradients by the global batch, since the loss is per
    sample; with mean_loss, a graph whose loss is each part's mean (keras_models.graph), it
    divides by the number of parts instead: the same mean over the global batch.
    """
    n, workers = len(x_train), 1
    if group:  # one worker of a parameter-server group (distributed/)
        kvstore, workers = group.kvstore, group.workers
        n, order = group.shard_size(n), group.sharded(order)
    step = trainer(net, optimizer, kvstore)
    profiler = profiling.for_mxnet(profile)
    local_batch = batch_size // workers  # batch_size is global: over all workers and devices
    epoch_seconds, loop_cpu_seconds = [], []
    turn = turns.current()
    for epoch in tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress, leave=False):
        # Under turns (cell/turns.py) the epoch's turn begins before its data is put in order:
        # the take below runs on MXNet's engine, asynchronously, and must not run on during
        # another arm's turn.
        turn.begin(epoch)
        index = arrays.ndarray(order(epoch), dtype="int64")
        x_epoch, y_epoch = x_train.take(index), y_train.take(index)
        loss_sums = [mx.nd.zeros(1, ctx=c) for c in contexts]
        correct_sums = [mx.nd.zeros(1, ctx=c) for c in contexts]
        mx.nd.waitall()
        profiler.begin(epoch)
        start, cpu_start = time.perf_counter(), time.thread_time()
        for first in range(0, n, local_batch):
            xs = split(x_epoch[first:first + local_batch], contexts)
            ys = split(y_epoch[first:first + local_batch], contexts)
            with autograd.record():
                results = [forward(x, y) for x, y in zip(xs, ys)]
            autograd.backward([loss for loss, _ in results])
            samples = min(local_batch, n - first) * workers  # in the global batch
            step.step(len(xs) * workers if mean_loss else samples)
            for i, ((loss, outputs), y) in enumerate(zip(results, ys)):
                loss_sum, correct = tally(loss, outputs, y)
                loss_sums[i] += loss_sum
                correct_sums[i] += correct
        mx.nd.waitall()
        epoch_seconds.append(time.perf_counter() - start)
        loop_cpu_seconds.append(time.thread_time() - cpu_start)
        profiler.end(epoch)
        turn.end(epoch, epoch_seconds[-1])
    return Fitted(epoch_seconds, loop_cpu_seconds, n,
                  sum(s.asscalar() for s in loss_sums) / n,
                  sum(s.asscalar() for s in correct_sums) / n, profiler.operators())


@dataclass
class Fitted:
    """What `fit` measured; `trained` makes the harness's record of it."""
    epoch_seconds: list
    loop_cpu_seconds: list
    train_samples: int
    train_loss: float
    train_accuracy: float
    operators: list = None

    def trained(self, net, contexts, group, probabilities, val_seconds):
        params = [p for p in net.collect_params().values() if p.grad_req != "null"]
        return Trained(
            epoch_seconds=self.epoch_seconds,
            loop_cpu_seconds=self.loop_cpu_seconds,
            train_loss=self.train_loss,
            train_accuracy=self.train_accuracy,
            val_probabilities=probabilities,
            val_seconds=val_seconds,
            trainable_parameters=sum(p.data(contexts[0]).size for p in params),
            extra=group.finish([p.data(contexts[0]).asnumpy() for p in params]) if group else {},
            train_samples=self.train_samples,
            operators=self.operators,
        )


def predict(probabilities, x, contexts, batch_size):
    """probabilities(part) for every batch of x, split over the contexts, as one numpy array."""
    x = arrays.ndarray(x, dtype=x.dtype)
    outputs = []
    for first in range(0, len(x), batch_size):
        parts = split(x[first:first + batch_size], contexts)
        outputs.extend(probabilities(part).as_in_context(mx.cpu()) for part in parts)
    return mx.nd.concat(*outputs, dim=0).asnumpy()
