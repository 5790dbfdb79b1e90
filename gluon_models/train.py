"""The data-parallel Gluon training loop both scenarios share.

Each global batch is split over the contexts with `gluon.utils.split_and_load`; every device
computes per-sample losses, and `Trainer.step(batch)` divides the summed gradients by the global
batch: the gradient of the mean loss over the global batch, as Keras computes it.

Nothing inside a timed epoch converts to numpy or waits on the device: the epoch's data is put
in order and onto the host as NDArrays before the clock starts (Keras gets the same ordered
arrays before its clock starts), and loss and accuracy are summed on the devices and read after.

With kvstore 'dist_sync' the process is one worker of a parameter-server group (distributed.py):
it trains its shard of each epoch in batches of batch_size / workers, and `step` still gets the
global batch, since dist_sync sums the gradients of all workers.
"""
import time

from tqdm import tqdm

import shim
from shim import precision

mx = shim.import_mxnet()
from mxnet import autograd, gluon, init

import distributed
from harness import Trained
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
          dtype="float32"):
    precision.use(dtype)  # before the model is built
    contexts = context.mxnet()
    n, workers, group = len(data.x_train), 1, None
    if kvstore.startswith("dist"):  # one worker of a parameter-server group (distributed.py)
        group = distributed.Worker(kvstore, batch_size)
        kvstore, workers = group.kvstore, group.workers
        n, order = group.shard_size(n), group.sharded(order)
    model = MODELS[scenario.name]
    net = model.build(scenario)
    net.initialize(GLOROT_UNIFORM, ctx=contexts)  # biases: each layer's own 'zeros'
    net.hybridize(static_alloc=True, static_shape=True)
    loss_fn, correct_fn = loss_and_correct(scenario)
    step = trainer(net, scenario.optimizer, kvstore)

    x_train = mx.nd.array(data.x_train, dtype=data.x_train.dtype)
    y_train = mx.nd.array(data.y_train, dtype="float32")
    local_batch = batch_size // workers  # batch_size is global: over all workers and devices
    epoch_seconds, loop_cpu_seconds = [], []
    for epoch in tqdm(range(epochs), desc=f"gluon {scenario.name}", unit="epoch",
                      disable=not progress, leave=False):
        index = mx.nd.array(order(epoch), dtype="int64")
        x_epoch, y_epoch = x_train.take(index), y_train.take(index)
        loss_sums = [mx.nd.zeros(1, ctx=c) for c in contexts]
        correct_sums = [mx.nd.zeros(1, ctx=c) for c in contexts]
        mx.nd.waitall()
        start, cpu_start = time.perf_counter(), time.thread_time()
        for first in range(0, n, local_batch):
            xs = split(x_epoch[first:first + local_batch], contexts)
            ys = split(y_epoch[first:first + local_batch], contexts)
            with autograd.record():
                logits = [net(x) for x in xs]
                losses = [loss_fn(z, y) for z, y in zip(logits, ys)]
            autograd.backward(losses)
            step.step(min(local_batch, n - first) * workers)  # the global batch's size
            for i, (z, y, l) in enumerate(zip(logits, ys, losses)):
                loss_sums[i] += l.sum()
                correct_sums[i] += correct_fn(z, y)
        mx.nd.waitall()
        epoch_seconds.append(time.perf_counter() - start)
        loop_cpu_seconds.append(time.thread_time() - cpu_start)

    start = time.perf_counter()
    probabilities = predict(net, model, data.x_val, contexts, batch_size)
    val_seconds = time.perf_counter() - start
    params = [p for p in net.collect_params().values() if p.grad_req != "null"]

    return Trained(
        epoch_seconds=epoch_seconds,
        loop_cpu_seconds=loop_cpu_seconds,
        train_loss=sum(s.asscalar() for s in loss_sums) / n,
        train_accuracy=sum(s.asscalar() for s in correct_sums) / n,
        val_probabilities=probabilities,
        val_seconds=val_seconds,
        trainable_parameters=sum(p.data(contexts[0]).size for p in params),
        extra=group.finish([p.data(contexts[0]).asnumpy() for p in params]) if group else {},
        train_samples=n,
    )


def predict(net, model, x, contexts, batch_size):
    x = mx.nd.array(x, dtype=x.dtype)
    outputs = []
    for first in range(0, len(x), batch_size):
        parts = split(x[first:first + batch_size], contexts)
        outputs.extend(model.probabilities(net(part)).as_in_context(mx.cpu()) for part in parts)
    return mx.nd.concat(*outputs, dim=0).asnumpy()
