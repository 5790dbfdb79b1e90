"""The PyTorch training loop both scenarios share: the yardstick, on one CPU context.

Eager mode with torch's stock optimizers, the idiomatic loop. Like the Gluon loop, nothing inside
a timed epoch reads a value back: the epoch's data is put in order and converted to tensors
before the clock starts, and loss and accuracy are summed as tensors and read after. On the CPU
torch runs synchronously, so the clock needs no device sync.
"""
import contextlib
import os
import time

try:
    import torch
except ImportError as error:  # the yardstick is optional: say how to get it
    raise ImportError("the torch implementation needs PyTorch: run `make setup-peers` "
                      "(pip install -r requirements-peers.txt)") from error
from torch import nn
from tqdm import tqdm

from cell import profiling, turns
from cell.contract import Trained
from torch_models import lenet, rnn

MODELS = {"lenet": lenet, "rnn": rnn}


def check_context(context, kvstore=None):
    if kvstore:
        raise ValueError(f"torch runs on one CPU context only: no kvstore (got {kvstore!r})")
    if context.kind != "cpu" or context.devices != 1:
        raise ValueError(f"torch runs on one CPU context only (use --ctx cpu), "
                         f"not {context.spec}")


def set_threads():
    """torch's intra-op threads from OMP_NUM_THREADS when set (the process-wide setting every
    implementation gets); otherwise torch's own default."""
    threads = os.environ.get("OMP_NUM_THREADS", "").strip()
    if threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))


def loss_and_correct(scenario):
    """Mean loss over the batch on logits, and a count of correct predictions."""
    if scenario.loss == "categorical_crossentropy":
        loss = nn.CrossEntropyLoss()
        def correct(logits, labels):
            return (logits.argmax(dim=1) == labels).sum()
        def target(y):
            return torch.as_tensor(y, dtype=torch.int64)
    else:
        bce = nn.BCEWithLogitsLoss()
        def loss(logits, labels):
            return bce(logits.reshape(-1), labels)
        def correct(logits, labels):
            return ((logits.reshape(-1) > 0) == (labels > 0.5)).sum()
        def target(y):
            return torch.as_tensor(y, dtype=torch.float32)
    return loss, correct, target


def inputs(x):
    """Token ids as int64 (what nn.Embedding indexes with), images as they come."""
    tensor = torch.from_numpy(x)
    return tensor.long() if not tensor.is_floating_point() else tensor


def optimizer(params, spec):
    if spec.name == "sgd":
        return torch.optim.SGD(params, lr=spec.learning_rate)  # no momentum, as Keras's default
    return torch.optim.Adam(params, lr=spec.learning_rate, betas=(spec.beta1, spec.beta2),
                            eps=spec.epsilon)


def train(scenario, data, context, batch_size, epochs, order, progress=True, kvstore=None,
          dtype="float32", profile=False):
    """`kvstore` exists only to refuse a distributed cell with a clear message.

    dtype 'bfloat16' is torch's own CPU mixed precision, autocast: the forward pass and the loss
    run under it (its bfloat16 ops: conv, linear, LSTM, ...); parameters and optimizer stay float32.
    """
    check_context(context, kvstore)
    # float32 enters nothing per batch: the timed loop stays what it was before --dtype existed
    mixed = (torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bfloat16"
             else contextlib.nullcontext())
    set_threads()
    model = MODELS[scenario.name]
    net = model.build(scenario)
    model.initialize(net, scenario)
    trainable = [p for p in net.parameters() if p.requires_grad]
    step = optimizer(trainable, scenario.optimizer)
    loss_fn, correct_fn, target = loss_and_correct(scenario)

    x_train, y_train = inputs(data.x_train), target(data.y_train)
    n = len(data.x_train)
    epoch_seconds = []
    profiler = profiling.for_torch(profile)
    net.train()
    turn = turns.current()
    for epoch in tqdm(range(epochs), desc=f"torch {scenario.name}", unit="epoch",
                      disable=not progress, leave=False):
        turn.begin(epoch)   # under turns (cell/turns.py), as in the Gluon loop
        index = torch.from_numpy(order(epoch)).long()
        x_epoch, y_epoch = x_train[index], y_train[index]  # ordered, contiguous copies
        loss_sum = torch.zeros(())
        correct_sum = torch.zeros((), dtype=torch.int64)
        profiler.begin(epoch)
        start = time.perf_counter()
        for first in range(0, n, batch_size):
            x, y = x_epoch[first:first + batch_size], y_epoch[first:first + batch_size]
            with mixed:
                logits = net(x)
                loss = loss_fn(logits, y)
            step.zero_grad(set_to_none=True)
            loss.backward()
            step.step()
            with torch.no_grad():
                loss_sum += loss.detach() * len(y)
                correct_sum += correct_fn(logits.detach(), y)
        epoch_seconds.append(time.perf_counter() - start)
        profiler.end(epoch)
        turn.end(epoch, epoch_seconds[-1])

    start = time.perf_counter()
    with mixed:
        probabilities = predict(net, model, data.x_val, batch_size)
    val_seconds = time.perf_counter() - start

    return Trained(
        epoch_seconds=epoch_seconds,
        train_loss=loss_sum.item() / n,
        train_accuracy=correct_sum.item() / n,
        val_probabilities=probabilities,
        val_seconds=val_seconds,
        trainable_parameters=sum(p.numel() for p in trainable),
        operators=profiler.operators(),
    )


def predict(net, model, x, batch_size):
    net.eval()
    x = inputs(x)
    with torch.inference_mode():
        outputs = [model.probabilities(net(x[first:first + batch_size]))
                   for first in range(0, len(x), batch_size)]
    return torch.cat(outputs).float().numpy()
