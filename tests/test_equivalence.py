"""Keras and Gluon compute the same function, proven without PyTorch.

For each scenario the Keras model's initial weights are copied into the Gluon model, layer by
layer (layouts converted: dense kernels transposed, Keras's channels-last flatten order, the
LSTM's one kernel/recurrent kernel/bias against MXNet's fused i2h/h2h weights with a second,
zero h2h bias; gates are i, f, c, o on both sides). Then, on the same batch:
- the predictions are equal;
- the loss is equal;
- the gradient of every trainable parameter is equal (Keras's own, from the symbol keras-mxnet
  trains: `model._train_mxnet_symbol`, run under autograd);
- after one optimizer step (Keras: `train_on_batch`; Gluon: the Trainer the benchmark uses),
  the parameters are equal.

A ReLU turned into tanh, hard_sigmoid LSTM gates, or the first step of the sequence fed to the
classifier instead of the last each make these tests fail.
"""
import numpy as np
import pytest

import scenarios
from shim.keras_mxnet import keras
import mxnet as mx
from mxnet import autograd, gluon

from gluon_models import train as gluon_train
from keras_models import train as keras_train

K = keras.backend
BATCH = 8
CASES = [scenarios.LENET, scenarios.RNN]  # the models the benchmark runs, at their real sizes


def batch(scenario, seed=0):
    rng = np.random.default_rng(seed)
    if scenario.name == "lenet":
        x = rng.random((BATCH,) + scenario.input_shape, dtype=np.float32)
        labels = rng.integers(0, scenario.classes, BATCH)
        return x, labels.astype(np.float32), keras.utils.to_categorical(labels, scenario.classes)
    x = rng.integers(1, scenario.vocabulary, (BATCH, scenario.sequence_length)).astype(np.float32)
    labels = rng.integers(0, 2, BATCH).astype(np.float32)
    return x, labels, labels.reshape(-1, 1)


def keras_model(scenario, seed=1):
    """The benchmark's Keras model, compiled as keras_models.train compiles it, with non-zero
    biases (so that their layout matters) and, for the CNN-LSTM, a wider embedding: at its
    initial weights the model's output hardly leaves 0.5."""
    model = keras_train.BUILDERS[scenario.name](scenario)
    model.compile(optimizer=keras_train.optimizer(scenario.optimizer), loss=scenario.loss)
    rng = np.random.default_rng(seed)
    weights = []
    for layer in model.layers:
        for w in layer.get_weights():
            if not w.any():  # a zero bias
                w = rng.normal(0, 0.1, w.shape)
            elif isinstance(layer, keras.layers.Embedding):
                w = rng.uniform(-1, 1, w.shape)
            weights.append(w.astype(np.float32))
    model.set_weights(weights)
    return model


def gluon_net(scenario):
    net = gluon_train.MODELS[scenario.name].build(scenario)
    net.initialize(gluon_train.GLOROT_UNIFORM)
    # Shapes by inference, not by a forward pass: after one, MKLDNN may hold a weight in its
    # own layout, which set_data can't overwrite.
    net.infer_shape(mx.nd.zeros((2,) + scenario.input_shape))
    return net


def keras_layer_arrays(model, arrays):
    """`arrays` (one per weight of model.weights, in order) grouped by layer: {layer: [...]}."""
    grouped, position = {}, 0
    for layer in model.layers:
        grouped[layer] = arrays[position:position + len(layer.weights)]
        position += len(layer.weights)
    assert position == len(arrays)
    return grouped


def to_gluon_layout(model, arrays):
    """Keras weights (or gradients: the maps are linear) as the Gluon parameters, in order.

    Returns one entry per Gluon parameter; MXNet's h2h bias, which Keras lacks, is zeros.
    """
    out = []
    flatten_from = None  # (channels, *spatial) and order of the last Flatten's input
    for layer, values in keras_layer_arrays(model, arrays).items():
        kind = type(layer).__name__
        if kind == "Flatten":
            # Keras 2.2.4's Flatten(data_format='channels_first') moves channels last before
            # flattening; Gluon flattens (channels, *spatial) as it is.
            flatten_from = (layer.input_shape[1:], layer.data_format)
        elif kind == "Embedding":
            out.append(values[0])
        elif kind == "Conv2D":
            assert layer.data_format == "channels_first"  # kernel (out, in, h, w), as Gluon's
            out += values
        elif kind == "Conv1D":
            assert layer.data_format == "channels_last"  # kernel (w, in, out)
            out += [values[0].transpose(2, 1, 0), values[1]]
        elif kind == "LSTM":
            kernel, recurrent, bias = values  # (in, 4H), (H, 4H), (4H,): gates i, f, c, o
            # MXNet's fused LSTM: i2h (4H, in), h2h (4H, H), i2h bias, h2h bias; gates i, f, g, o
            out += [kernel.T, recurrent.T, bias, np.zeros_like(bias)]
        elif kind == "Dense":
            kernel, bias = values
            if flatten_from is not None:
                shape, data_format = flatten_from
                if data_format == "channels_first":
                    channels, spatial = shape[0], shape[1:]
                    kernel = kernel.reshape(spatial + (channels, -1))
                    kernel = np.moveaxis(kernel, -2, 0).reshape(-1, kernel.shape[-1])
                flatten_from = None
            out += [kernel.T, bias]
        else:
            assert not values, f"no Gluon mapping for {kind}'s weights"
    return out


def gluon_params(net):
    return list(net.collect_params().values())


def copy_keras_into_gluon(model, net):
    params = gluon_params(net)
    values = to_gluon_layout(model, [K.get_value(w) for w in model.weights])
    assert [p.shape for p in params] == [v.shape for v in values]
    for p, v in zip(params, values):
        p.set_data(mx.nd.array(v))


def keras_loss_and_gradients(model, x, y):
    """Loss and gradients of the graph keras-mxnet itself trains (its MakeLoss symbol)."""
    symbol = model._train_mxnet_symbol
    names = [n for n in symbol.list_arguments() if n.startswith("/")]  # data, target, weights
    block = gluon.SymbolBlock(symbol, [mx.sym.var(n) for n in names])
    weights = {w.name: w for w in model.weights}
    for name, param in block.collect_params().items():
        param.initialize()
        param.set_data(mx.nd.array(K.get_value(weights[name])))
    feeds = {model.inputs[0].name: x, model.targets[0].name: y,
             model.sample_weights[0].name: np.ones(len(x), np.float32)}
    inputs = [mx.nd.array(feeds[n]) for n in names]
    with autograd.record():
        loss = block(*inputs)
    loss.backward()
    params = block.collect_params()
    gradients = [params[w.name].grad().asnumpy() for w in model.weights]
    return float(loss.asnumpy().reshape(-1)[0]), gradients


def keras_weights_in_module(model):
    """The weights as keras-mxnet's training module holds them, in model.weights order."""
    args, _ = model._module.get_params()
    return [args[w.name].asnumpy() for w in model.weights]


@pytest.fixture(scope="module", params=CASES, ids=lambda s: s.name)
def pair(request):
    """Keras model and Gluon net with the same weights, and one batch."""
    scenario = request.param
    model, net = keras_model(scenario), gluon_net(scenario)
    copy_keras_into_gluon(model, net)
    net.hybridize(static_alloc=True, static_shape=True)  # as gluon_models.train runs it
    data = batch(scenario)
    net(mx.nd.array(data[0]))  # completes the deferred initialization with the copied values
    return scenario, model, net, data


def close(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5, err_msg=what)


def test_the_copy_covers_every_trainable_parameter(pair):
    scenario, model, net, _ = pair
    trained = [p for p in gluon_params(net) if p.grad_req != "null"]
    assert sum(p.data().size for p in trained) == scenario.parameter_count()
    assert keras.utils.layer_utils.count_params(model.trainable_weights) == \
        scenario.parameter_count()
    # the one untrained Gluon parameter, the fused LSTM's h2h bias, stays at zero
    assert all(not p.data().asnumpy().any() for p in gluon_params(net) if p.grad_req == "null")


def test_predictions_are_equal(pair):
    scenario, model, net, (x, _, _) = pair
    keras_probabilities = model.predict(x, batch_size=BATCH)
    gluon_module = gluon_train.MODELS[scenario.name]
    gluon_probabilities = gluon_module.probabilities(net(mx.nd.array(x))).asnumpy()
    assert keras_probabilities.shape == gluon_probabilities.shape
    assert keras_probabilities.std() > 1e-3  # not a constant output
    close(gluon_probabilities, keras_probabilities, "predictions")


def gluon_loss_and_gradients(scenario, net, x, labels):
    loss_fn, _ = gluon_train.loss_and_correct(scenario)
    with autograd.record():
        losses = loss_fn(net(mx.nd.array(x)), mx.nd.array(labels))
    losses.backward()  # as the training loop does: the sum, divided by the batch in step()
    gradients = [p.grad().asnumpy() / len(x) for p in gluon_params(net) if p.grad_req != "null"]
    return float(losses.mean().asscalar()), gradients


def test_loss_and_gradients_are_equal(pair):
    scenario, model, net, (x, labels, y) = pair
    keras_loss, keras_gradients = keras_loss_and_gradients(model, x, y)
    gluon_loss, gluon_gradients = gluon_loss_and_gradients(scenario, net, x, labels)
    assert keras_loss == pytest.approx(gluon_loss, rel=1e-5)
    expected = [g for g, p in zip(to_gluon_layout(model, keras_gradients), gluon_params(net))
                if p.grad_req != "null"]
    names = [p.name for p in gluon_params(net) if p.grad_req != "null"]
    assert len(expected) == len(gluon_gradients) == len(names)
    for name, g, k in zip(names, gluon_gradients, expected):
        assert np.abs(k).max() > 0, f"{name}: Keras's gradient is all zeros"
        scale = np.abs(k).max()
        np.testing.assert_allclose(g, k, rtol=1e-3, atol=1e-4 * scale, err_msg=name)


def test_parameters_are_equal_after_one_optimizer_step(pair):
    scenario, model, net, (x, labels, y) = pair
    before = [p.data().asnumpy() for p in gluon_params(net)]
    model.train_on_batch(x, y)
    loss_fn, _ = gluon_train.loss_and_correct(scenario)
    trainer = gluon_train.trainer(net, scenario.optimizer, kvstore="device")
    with autograd.record():
        losses = loss_fn(net(mx.nd.array(x)), mx.nd.array(labels))
    losses.backward()
    trainer.step(len(x))
    after_keras = to_gluon_layout(model, keras_weights_in_module(model))
    for p, old, new in zip(gluon_params(net), before, after_keras):
        if p.grad_req == "null":
            continue
        assert not np.array_equal(old, new), f"{p.name}: Keras did not move it"
        # The step itself agrees to float32 rounding: compare what each side moved.
        step_scale = np.abs(new - old).max()
        np.testing.assert_allclose(p.data().asnumpy() - old, new - old, rtol=1e-3,
                                   atol=1e-2 * step_scale + 1e-7, err_msg=p.name)
