"""Keras and Gluon run the same experiment: architecture, parameters, initializers, data order,
batch, contexts and metrics."""
import signal
from pathlib import Path

import numpy as np
import pytest

from cell import contract
import scenarios
from shim.contexts import parse
import mxnet as mx

from gluon_models import train as gluon_train
from keras_models import graph as keras_graph
from keras_models import train as keras_train
from tests.helpers import run_python

ROOT = Path(__file__).resolve().parents[1]


def keras_model(scenario):
    model = keras_train.BUILDERS[scenario.name](scenario)
    model.compile(optimizer=keras_train.optimizer(scenario.optimizer), loss=scenario.loss)
    return model


def gluon_net(scenario):
    net = gluon_train.MODELS[scenario.name].build(scenario)
    net.initialize(gluon_train.GLOROT_UNIFORM)
    net(mx.nd.zeros((2,) + scenario.input_shape))  # materialize deferred shapes
    return net


def trainable(net):
    return {name: p.data().asnumpy() for name, p in net.collect_params().items()
            if p.grad_req != "null"}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [scenarios.LENET, scenarios.RNN], ids=lambda s: s.name)
def test_parameter_counts_match_the_scenario(scenario):
    expected = scenario.parameter_count()
    assert keras_model(scenario).count_params() == expected
    assert sum(w.size for w in trainable(gluon_net(scenario)).values()) == expected


def glorot_limit(shape):
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return np.sqrt(6.0 / ((shape[0] + shape[1]) * receptive))


def check_glorot_uniform(w, fans):
    limit = np.sqrt(6.0 / sum(fans))
    assert np.abs(w).max() <= limit + 1e-6
    # uniform(-a, a) has standard deviation a / sqrt(3)
    assert w.std() == pytest.approx(limit / np.sqrt(3), rel=0.1)


def test_lenet_initializers_are_the_same_family():
    s = scenarios.LENET
    keras_weights = keras_model(s).get_weights()  # kernel, bias per layer
    gluon_weights = list(trainable(gluon_net(s)).values())
    assert len(keras_weights) == len(gluon_weights) == 8
    for k, g in zip(keras_weights, gluon_weights):
        if k.ndim == 1:  # biases
            assert not k.any() and not g.any()
            continue
        # Keras kernels are (h, w, in, out) or (in, out); Gluon's (out, in, h, w) or (out, in)
        receptive = int(np.prod(g.shape[2:])) if g.ndim > 2 else 1
        fans = (g.shape[1] * receptive, g.shape[0] * receptive)
        check_glorot_uniform(k, fans)
        check_glorot_uniform(g, fans)


@pytest.mark.slow
def test_cnn_lstm_initializers_are_the_same_family():
    s = scenarios.RNN
    H = s.lstm_units
    model = keras_model(s)
    embedding, conv_kernel, conv_bias, kernel, recurrent, bias, dense_kernel, dense_bias = \
        model.get_weights()
    net = gluon_net(s)
    g_embedding = net.embedding.weight.data().asnumpy()
    g_i2h, g_h2h, g_i2h_bias, g_h2h_bias = (
        getattr(net.lstm, f"l0_{name}").data().asnumpy()
        for name in ("i2h_weight", "h2h_weight", "i2h_bias", "h2h_bias"))

    for e in (embedding, g_embedding):
        assert np.abs(e).max() <= s.embedding_init_scale
    check_glorot_uniform(kernel, (s.conv_filters, 4 * H))
    check_glorot_uniform(g_i2h, (s.conv_filters, 4 * H))
    # Orthogonal recurrent weights: Keras's (H, 4H) has orthonormal rows, Gluon's (4H, H)
    # orthonormal columns.
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(H), atol=1e-4)
    np.testing.assert_allclose(g_h2h.T @ g_h2h, np.eye(H), atol=1e-4)
    # One trained bias with the forget gate (second quarter, i-f-c-o on both sides) at 1.
    for b in (bias, g_i2h_bias):
        np.testing.assert_array_equal(b[H:2 * H], s.forget_bias)
        assert not b[:H].any() and not b[2 * H:].any()
    assert not g_h2h_bias.any()
    assert not conv_bias.any() and not dense_bias.any()


def test_optimizer_settings_match():
    for s in (scenarios.LENET, scenarios.RNN):
        k = keras_train.optimizer(s.optimizer)
        net = gluon_net(s)
        g = gluon_train.trainer(net, s.optimizer, kvstore="device")._optimizer
        assert isinstance(k, type(g))  # keras-mxnet subclasses MXNet's own optimizer
        assert k._get_lr(0) == pytest.approx(g.learning_rate)  # keras-mxnet's lr is a variable
        if s.optimizer.name == "adam":
            assert (k.beta1, k.beta2, k.epsilon) == (g.beta1, g.beta2, g.epsilon)
        assert k.rescale_grad == g.rescale_grad == 1.0


def test_epoch_order_is_one_seeded_permutation_per_epoch():
    a, b = contract.epoch_order(1000, 0, 1), contract.epoch_order(1000, 0, 1)
    np.testing.assert_array_equal(a, b)
    assert sorted(a) == list(range(1000))
    assert (a != contract.epoch_order(1000, 0, 2)).any()
    assert (a != contract.epoch_order(1000, 1, 1)).any()


def test_evaluate_matches_hand_computation():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    loss, acc = contract.evaluate(scenarios.LENET, np.array([0, 1]), probs)
    assert loss == pytest.approx(-(np.log(0.7) + np.log(0.1)) / 2)
    assert acc == 0.5
    loss, acc = contract.evaluate(scenarios.RNN, np.array([1.0, 0.0]), np.array([[0.9], [0.4]]))
    assert loss == pytest.approx(-(np.log(0.9) + np.log(0.6)) / 2)
    assert acc == 1.0


class OrderSpy:
    def __init__(self, n, seed):
        self.n, self.seed, self.epochs = n, seed, []

    def __call__(self, epoch):
        self.epochs.append(epoch)
        return contract.epoch_order(self.n, self.seed, epoch)


def rows_of(batch, x_train):
    """The training-set indices of a batch's rows (synthetic images are all distinct)."""
    flat = x_train.reshape(len(x_train), -1)
    lookup = {row.tobytes(): i for i, row in enumerate(flat)}
    return [lookup[row.tobytes()] for row in np.asarray(batch).reshape(len(batch), -1)]


def spy_on_keras(monkeypatch, seen):
    model_cls = keras_train.keras.models.Sequential
    fit, compile_ = model_cls.fit, model_cls.compile

    def spying_fit(self, x, y, **kwargs):
        seen.append(("fit", x.copy(), kwargs["batch_size"], kwargs.get("shuffle", True)))
        return fit(self, x, y, **kwargs)

    def spying_compile(self, *args, **kwargs):
        seen.append(("contexts", [str(c) for c in kwargs.get("context", [])]))
        return compile_(self, *args, **kwargs)

    monkeypatch.setattr(model_cls, "fit", spying_fit)
    monkeypatch.setattr(model_cls, "compile", spying_compile)


def spy_on_gluon(monkeypatch, seen):
    split = gluon_train.split

    def spying_split(batch, contexts):
        parts = split(batch, contexts)
        if batch.ndim == 4:  # LeNet's images, not the labels (keras-graph's are one-hot rows)
            seen.append(("batch", batch.asnumpy(), [p.context for p in parts]))
        return parts

    monkeypatch.setattr(gluon_train, "split", spying_split)


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["keras", "keras-graph", "gluon"])
def test_both_sides_train_on_the_harness_order_batch_and_contexts(impl, monkeypatch):
    import benchdata

    n, batch, epochs = 192, 64, 2
    data = benchdata.load("lenet", data="synthetic", max_samples=n)
    spy = OrderSpy(n, 0)
    seen = []
    module = {"keras": keras_train, "keras-graph": keras_graph, "gluon": gluon_train}[impl]
    # keras-graph trains in Gluon's loop: the same split is where its batches show.
    {"keras": spy_on_keras, "keras-graph": spy_on_gluon, "gluon": spy_on_gluon}[impl](monkeypatch,
                                                                                      seen)
    trained = module.train(scenarios.LENET, data, parse("cpu:0-1"), batch, epochs, spy,
                           progress=False)
    assert spy.epochs == [0, 1]
    # The samples each epoch trains on, in the order it trains on them, in global batches.
    expected = [contract.epoch_order(n, 0, e) for e in range(epochs)]
    if impl == "keras":
        assert seen[0] == ("contexts", ["cpu(0)", "cpu(1)"])
        fits = [s for s in seen if s[0] == "fit"]
        assert len(fits) == epochs
        for (_, x, batch_size, shuffle), order in zip(fits, expected):
            assert batch_size == batch and shuffle is False  # fit keeps the given order
            assert rows_of(x, data.x_train) == list(order)
    else:
        batches = [s for s in seen if s[0] == "batch"]
        assert len(batches) == (epochs + 1) * n // batch  # then the validation set's
        for i, (_, x, contexts) in enumerate(batches[:epochs * n // batch]):
            epoch, first = divmod(i * batch, n)
            assert rows_of(x, data.x_train) == list(expected[epoch][first:first + batch])
            assert contexts == [mx.cpu(0), mx.cpu(1)]
    assert len(trained.epoch_seconds) == 2
    assert trained.val_probabilities.shape == (n, 10)
    assert trained.trainable_parameters == scenarios.LENET.parameter_count()
    assert np.isfinite(trained.train_loss) and 0 <= trained.train_accuracy <= 1


@pytest.mark.slow
def test_gluon_cnn_lstm_survives_adam_steps():
    # Regression guard for the SequenceLast crash: the model takes its last step by slice_axis.
    done = run_python("""
        import benchdata, scenarios
        from cell import contract
        from shim.contexts import parse
        from gluon_models import train
        data = benchdata.load('rnn', data='synthetic', max_samples=96)
        t = train.train(scenarios.RNN, data, parse('cpu'), 32, 2,
                        lambda e: contract.epoch_order(96, 0, e), progress=False)
        print('trained', t.train_loss)
    """)
    assert done.returncode == 0 and "trained" in done.stdout, done.stderr[-2000:]


SEQUENCE_LAST_BACKWARD = """
    import mxnet as mx
    from mxnet import autograd
    x = mx.nd.random.uniform(shape=(12, 16, 6)); x.attach_grad()
    with autograd.record():
        y = {last}
    y.backward(); mx.nd.waitall(); print('backward done', flush=True)
"""


@pytest.mark.slow
def test_sequence_last_backward_still_crashes_mxnet_1_9_1():
    # Why the workaround exists: on MXNet 1.9.1 (CPU) the backward of SequenceLast corrupts the
    # heap with any optimizer, even on a tiny tensor: glibc aborts the process, at the latest
    # when it frees memory at exit. If this starts passing, MXNet was fixed.
    crashed = run_python(SEQUENCE_LAST_BACKWARD.format(last="mx.nd.SequenceLast(x)"))
    assert crashed.returncode in (-signal.SIGABRT, -signal.SIGSEGV), (
        crashed.returncode, crashed.stderr[-500:])
    assert "Traceback" not in crashed.stderr  # a crash, not a Python error
    # The same script with the slice the Gluon model uses runs and exits cleanly.
    control = run_python(SEQUENCE_LAST_BACKWARD.format(
        last="mx.nd.slice_axis(x, axis=0, begin=-1, end=None)"))
    assert control.returncode == 0 and "backward done" in control.stdout, control.stderr[-500:]
