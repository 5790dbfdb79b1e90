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
    net = training_graph(model, contexts)
    net.hybridize(static_alloc=True, static_shape=True)
    ones = {}

    def sample_weights(y):  # Keras's fit weighs every sample 1 (made once per part size)
        key = (y.context, len(y))
        if key not in ones:
            ones[key] = mx.nd.ones(len(y), ctx=y.context, dtype=model.sample_weights[0].dtype)
        return ones[key]

    def forward(x, y):  # one device's part: its mean loss, and its accuracy
        loss, accuracy = net(x, y, sample_weights(y))
        return loss, accuracy

    def tally(loss, accuracy, y):  # means over the part, back to sums
        return loss * len(y), accuracy * len(y)

    x_dtype, y_dtype = model.inputs[0].dtype, model.targets[0].dtype
    y = targets(scenario, data.y_train).reshape(len(data.y_train), -1)  # (n, classes) or (n, 1)
    x_train = arrays.ndarray(data.x_train, dtype=x_dtype)   # as Keras's fit converts them
    y_train = arrays.ndarray(y, dtype=y_dtype)
    fitted = gluon_train.fit(forward, tally, net, scenario.optimizer, x_train, y_train, contexts,
                             batch_size, epochs, order, group, kvstore, progress=progress,
                             desc=f"keras-graph {scenario.name}", profile=profile, mean_loss=True)

    start = time.perf_counter()
    predict = prediction_graph(model, net)
    predict.hybridize(static_alloc=True, static_shape=True)
    probabilities = gluon_train.predict(predict, data.x_val.astype(x_dtype), contexts, batch_size)
    val_seconds = time.perf_counter() - start
    return fitted.trained(net, contexts, group, probabilities, val_seconds)
