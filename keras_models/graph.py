"""keras-graph: Keras's own training graph, trained by the Gluon training loop.

The third MXNet implementation, there to split the Keras overhead in two:
- keras / keras-graph: the same graph, Keras's loop against Gluon's: the cost of Keras's `fit`
  and API (per-batch Python, numpy slicing, callbacks, BucketingModule);
- keras-graph / gluon: the same loop, Keras's graph against Gluon's: the cost of the graph
  keras-mxnet builds (convolutions without bias plus broadcast_add, Dense as dot plus
  broadcast_add, the LSTM unrolled step by step against MXNet's fused RNN).
Their product is keras / gluon.

The model is built and compiled exactly as keras_models.train does (`compiled_model`: same
builder, optimizer, loss, metrics and context), which also gives the Keras arm's initial weights
(keras-mxnet draws them from MXNet's default seed, the same in every fresh process). Its training
symbol, what Keras's `fit` runs through its Module, is `model._train_mxnet_symbol`: MakeLoss of
the mean loss over the batch, then the metrics (accuracy) behind BlockGrad. It becomes a
`gluon.SymbolBlock` whose inputs are the symbol's '/'-named arguments (data, target, sample
weights), with its parameters set by name from the Keras weights, and trains in
gluon_models.train.fit: split_and_load, autograd, Trainer, the same batches, order, contexts,
optimizer settings and timing rules as Gluon.

Gradient scale: MakeLoss's gradient is 1 whatever the head gradient, so each device part yields
the gradient of its own mean loss. Keras's Module sums those over the contexts and divides by
their number (shim/keras_mxnet.py); here Trainer.step gets the number of parts (contexts x
workers) instead of the samples, which is the same division: one SGD step matches Keras's
`train_on_batch` (tests/test_keras_graph.py).

Validation runs Keras's prediction symbol on the trained parameters, batch by batch as Gluon does.
"""
import time

import numpy as np

from shim import arrays, precision
from shim.keras_mxnet import keras
import mxnet as mx
from mxnet import gluon

import distributed
from gluon_models import train as gluon_train
from keras_models.train import compiled_model, targets

K = keras.backend


def training_graph(model, contexts):
    """Keras's training graph as a Gluon block on `contexts`, starting from the model's weights:
    (data, target, sample weights) -> (mean loss, accuracy) of one device's part of a batch."""
    if model._train_updates:  # e.g. BatchNormalization's moving averages, which fit() applies
        raise ValueError("keras-graph trains graphs without state updates; this model has "
                         f"{len(model._train_updates)}")
    symbol = model._train_mxnet_symbol
    outputs = mx.sym.Group([symbol[i] for i in range(model._ntrain)])  # loss, then metrics
    net = gluon.SymbolBlock(outputs, graph_inputs(model))
    weights = {w.name: K.get_value(w) for w in model.weights}
    trainable = {w.name for w in model.trainable_weights}
    for name, parameter in net.collect_params().items():
        parameter.shape = weights[name].shape
        parameter.initialize(ctx=contexts)
        parameter.set_data(arrays.ndarray(weights[name]))
        if name not in trainable:
            parameter.grad_req = "null"
    return net


def loss_and_accuracy(outputs):
    """The training graph's outputs: the mean loss, then the metrics; a model compiled without
    metrics (a user's, bench.py --model) has the loss alone, and an accuracy of 0 here."""
    if isinstance(outputs, (list, tuple)):
        return outputs[0], outputs[1]
    return outputs, outputs * 0


def graph_inputs(model):
    """The symbol's inputs in Keras's order (data, then targets and sample weights), with the
    dtypes Keras feeds them in."""
    placeholders = model.inputs + model.targets + model.sample_weights
    dtypes = {p.name: p.dtype for p in placeholders if p is not None}
    return [mx.sym.var(name, dtype=dtypes[name])
            for name in model._data_names + model._label_names]


def prediction_graph(model, net):
    """Keras's prediction symbol (the model's probabilities), sharing `net`'s parameters."""
    data = [mx.sym.var(name, dtype=p.dtype) for name, p in zip(model._data_names, model.inputs)]
    return gluon.SymbolBlock(model._pred_mxnet_symbol, data, params=net.collect_params())


def train(scenario, data, context, batch_size, epochs, order, progress=True, kvstore="device",
          dtype="float32", profile=False):
    precision.use(dtype)  # before the model is built: AMP rewrites the symbol Keras builds
    contexts = context.mxnet()
    group = distributed.Worker(kvstore, batch_size) if kvstore.startswith("dist") else None
    model = compiled_model(scenario, context)
    # a user's model (bench.py --model, keras_models/user_model.py) gives its own optimizer's
    # Gluon twin here, read off the same function's model
    optimizer = scenario.optimizer
    net = training_graph(model, contexts)
    net.hybridize(static_alloc=True, static_shape=True)
    ones = {}

    def sample_weights(y):  # Keras's fit weighs every sample 1 (made once per part size)
        key = (y.context, len(y))
        if key not in ones:
            ones[key] = mx.nd.ones(len(y), ctx=y.context, dtype=model.sample_weights[0].dtype)
        return ones[key]

    def forward(x, y):  # one device's part: its mean loss, and its accuracy
        return loss_and_accuracy(net(x, y, sample_weights(y)))

    def tally(loss, accuracy, y):  # means over the part, back to sums
        return loss * len(y), accuracy * len(y)

    x_dtype, y_dtype = model.inputs[0].dtype, model.targets[0].dtype
    y = targets(scenario, data.y_train).reshape(len(data.y_train), -1)  # (n, classes) or (n, 1)
    x_train = arrays.ndarray(data.x_train, dtype=x_dtype)   # as Keras's fit converts them
    y_train = arrays.ndarray(y, dtype=y_dtype)
    fitted = gluon_train.fit(forward, tally, net, optimizer, x_train, y_train, contexts,
                             batch_size, epochs, order, group, kvstore, progress=progress,
                             desc=f"keras-graph {scenario.name}", profile=profile, mean_loss=True)

    start = time.perf_counter()
    predict = prediction_graph(model, net)
    predict.hybridize(static_alloc=True, static_shape=True)
    probabilities = gluon_train.predict(predict, data.x_val.astype(x_dtype), contexts, batch_size)
    val_seconds = time.perf_counter() - start
    trained = fitted.trained(net, contexts, group, probabilities, val_seconds)
    if model._ntrain < 2:
        trained.train_accuracy = None   # compiled without the accuracy metric: none to report
    return trained


def first_difference(model, x, y, context, optimizer):
    """None where this arm's first step on the batch (x, y) is Keras's own `train_on_batch` on
    `model` (compiled with `optimizer`, a scenarios.Optimizer); else one line naming what differs:
    the predictions, the loss, a gradient or a parameter after the step (shim/fused/verify.py's
    tolerance). Used by bench.py --model before keras-graph is timed on a user's model."""
    from shim.fused import verify

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return "keras-graph trains models of one input and one output only"
    contexts = context.mxnet()
    try:
        net = training_graph(model, contexts)
    except ValueError as error:
        return str(error)
    x_nd = arrays.ndarray(x, dtype=model.inputs[0].dtype)
    y_nd = arrays.ndarray(y.reshape(len(y), -1), dtype=model.targets[0].dtype)
    predicted = gluon_train.predict(prediction_graph(model, net), x.astype(model.inputs[0].dtype),
                                    contexts, len(x))
    found = verify.difference(model.predict(x, batch_size=len(x)), predicted)
    if found:
        return f"keras-graph's predictions differ ({found})"

    def forward(xp, yp):
        return loss_and_accuracy(net(xp, yp, mx.nd.ones(len(yp), ctx=yp.context)))

    mx.random.seed(verify.WEIGHTS_SEED)   # the same dropout masks, where the model has some
    fitted = gluon_train.fit(forward, lambda loss, accuracy, yp: (loss * len(yp), accuracy), net,
                             optimizer, x_nd, y_nd, contexts, len(x), 1,
                             lambda epoch: np.arange(len(x)), progress=False, mean_loss=True)
    mx.random.seed(verify.WEIGHTS_SEED)
    keras_loss = np.atleast_1d(model.train_on_batch(x, y))[0]
    found = verify.difference(keras_loss, fitted.train_loss)
    if found:
        return f"keras-graph's loss differs ({found})"
    stepped, _ = model._module.get_params()
    keras_grads = dict(zip((w.name for w in model.trainable_weights), verify.grads(model)))
    for name, parameter in net.collect_params().items():
        if parameter.grad_req == "null":
            continue
        ours = sum(parameter.grad(c).asnumpy() for c in contexts)
        found = verify.difference(keras_grads[name], ours)
        if found:
            return f"keras-graph's gradient of {name} differs ({found})"
        found = verify.difference(stepped[name].asnumpy(), parameter.data(contexts[0]).asnumpy())
        if found:
            return f"keras-graph's {optimizer.name} step of {name} differs ({found})"
    return None
