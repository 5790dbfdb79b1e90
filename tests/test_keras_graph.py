"""keras-graph: Keras's own training graph trained by the Gluon loop (keras_models/graph.py).

It must be Keras's graph (its bias adds, its unrolled LSTM), start from the Keras arm's initial
weights, step exactly as Keras's train_on_batch does on one and on several contexts, run wherever
the other MXNet arms run, and learn.
"""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import benchdata
from cell import contract, harness
import distributed
import scenarios
from shim.contexts import parse
from shim.keras_mxnet import keras
import mxnet as mx

from gluon_models import train as gluon_train
from keras_models import graph as keras_graph
from keras_models import train as keras_train
from tests.helpers import python_json

ROOT = Path(__file__).resolve().parents[1]
# The CNN-LSTM with 20 tokens: the same layers and optimizer, a short unrolled graph.
SHORT_RNN = dataclasses.replace(scenarios.RNN, sequence_length=20)


def one_batch(scenario, batch, seed=0):
    rng = np.random.default_rng(seed)
    if scenario.name == "lenet":
        x = rng.random((batch,) + scenario.input_shape).astype("float32")
        labels = rng.integers(0, scenario.classes, batch)
    else:
        x = rng.integers(0, scenario.vocabulary, (batch, scenario.sequence_length)).astype("int32")
        labels = rng.integers(0, 2, batch).astype("float32")
    return x, labels


@pytest.mark.parametrize("scenario, ctx", [(scenarios.LENET, "cpu"), (scenarios.LENET, "cpu:0-1"),
                                           (SHORT_RNN, "cpu"), (SHORT_RNN, "cpu:0-1")],
                         ids=["lenet-cpu", "lenet-cpu:0-1", "rnn-cpu", "rnn-cpu:0-1"])
def test_one_step_matches_keras_train_on_batch(scenario, ctx):
    # Keras's loss symbol is each part's MEAN (MakeLoss ignores head gradients); the loop must
    # divide the summed gradients by the number of parts, not the samples, to match Keras.
    context = parse(ctx)
    contexts = context.mxnet()
    batch = 32
    x, labels = one_batch(scenario, batch)
    model = keras_train.compiled_model(scenario, context)
    net = keras_graph.training_graph(model, contexts)   # a copy of the initial weights
    initial = {w.name: keras.backend.get_value(w).copy() for w in model.weights}
    y = keras_train.targets(scenario, labels).reshape(batch, -1).astype("float32")

    def forward(xp, yp):
        return tuple(net(xp, yp, mx.nd.ones(len(yp), ctx=yp.context)))

    fitted = gluon_train.fit(forward, lambda loss, acc, yp: (loss * len(yp), acc * len(yp)), net,
                             scenario.optimizer, mx.nd.array(x), mx.nd.array(y), contexts, batch,
                             1, lambda epoch: np.arange(batch), progress=False, mean_loss=True)
    keras_loss, keras_accuracy = model.train_on_batch(x.astype("float32"), y)

    assert fitted.train_loss == pytest.approx(keras_loss, rel=1e-5)
    assert fitted.train_accuracy == pytest.approx(keras_accuracy)
    stepped, _ = model._module.get_params()
    for name, parameter in net.collect_params().items():
        for c in contexts:
            ours = parameter.data(c).asnumpy()
            np.testing.assert_allclose(ours, stepped[name].asnumpy(), rtol=1e-5, atol=2e-7,
                                       err_msg=name)
        assert not np.array_equal(stepped[name].asnumpy(), initial[name]), name  # it did step


@pytest.mark.slow
def test_starts_from_the_keras_arms_initial_weights():
    # Each arm runs in a fresh process (python -m cell): the Keras arm trains from the weights its
    # compiled model holds; keras-graph's block must hold the same values, by name, for both
    # scenarios (the LSTM's orthogonal recurrent kernel included: numpy's draw, seeded).
    keras_arm = python_json("""
        import json, scenarios
        from shim.contexts import parse
        from shim.keras_mxnet import keras
        from keras_models.train import compiled_model
        weights = {}
        for s in (scenarios.LENET, scenarios.RNN):
            model = compiled_model(s, parse('cpu'))
            weights.update({f"{s.name} {w.name}": keras.backend.get_value(w).ravel().tolist()
                            for w in model.weights})
        print(json.dumps(weights))
    """)
    graph_arm = python_json("""
        import json, scenarios
        from shim.contexts import parse
        from keras_models import graph
        from keras_models.train import compiled_model
        context, weights = parse('cpu'), {}
        for s in (scenarios.LENET, scenarios.RNN):
            net = graph.training_graph(compiled_model(s, context), context.mxnet())
            weights.update({f"{s.name} {n}": p.data().asnumpy().ravel().tolist()
                            for n, p in net.collect_params().items()})
        print(json.dumps(weights))
    """)
    assert set(graph_arm) == set(keras_arm) and len(keras_arm) == 16
    for weight, values in keras_arm.items():
        np.testing.assert_array_equal(graph_arm[weight], values, err_msg=weight)


def calls_per_step(module, scenario, monkeypatch, samples=64, batch=32):
    """{operator: calls per step} of a profiled run (--profile's per-operator mode)."""
    from cell import profiling

    for name, value in profiling.UNBULKED.items():
        monkeypatch.setenv(name, value)
    data = benchdata.load(scenario.name, data="synthetic", max_samples=samples)
    if scenario.name == "rnn":
        data = data._replace(x_train=data.x_train[:, :scenario.sequence_length],
                             x_val=data.x_val[:, :scenario.sequence_length])
    trained = module.train(scenario, data, parse("cpu"), batch, 2,
                           lambda epoch: contract.epoch_order(samples, 0, epoch),
                           progress=False, profile=True)
    steps = samples // batch   # one timed epoch
    return {o["operator"]: o["calls"] / steps for o in trained.operators}


def test_runs_kerass_lenet_graph_with_its_bias_adds(monkeypatch):
    graph = calls_per_step(keras_graph, scenarios.LENET, monkeypatch)
    gluon = calls_per_step(gluon_train, scenarios.LENET, monkeypatch)
    # keras-mxnet: Convolution without bias + broadcast_add, Dense as dot + broadcast_add
    assert graph["_backward_broadcast_add"] >= 4 and graph["broadcast_add"] >= 4
    assert graph["dot"] >= 2 and "FullyConnected" not in graph
    assert "FullyConnected" in gluon and "_backward_broadcast_add" not in gluon


def test_runs_kerass_unrolled_lstm(monkeypatch):
    steps = SHORT_RNN.sequence_length // SHORT_RNN.pool_size
    graph = calls_per_step(keras_graph, SHORT_RNN, monkeypatch)
    gluon = calls_per_step(gluon_train, SHORT_RNN, monkeypatch)
    # per time step: products with the input and the recurrent kernels, forward and backward
    assert graph["dot"] >= 2 * steps and graph["_backward_dot"] >= 2 * steps
    assert graph["broadcast_mul"] >= 2 * steps and graph["tanh"] >= steps
    assert "RNN" not in graph
    assert gluon["RNN"] == 1 and gluon.get("dot", 0) < steps


@pytest.mark.slow
def test_keras_graph_on_dist_sync_matches_one_process():
    cell = {"scenario": "lenet", "impl": "keras-graph", "ctx": "cpu", "batch_size": 64,
            "epochs": 2, "data": "synthetic", "max_samples": 256, "seed": 0, "quiet": True}
    row = distributed.run_cell(cell, workers=2, servers=1, timeout_s=120)
    assert row["param_check"] == "identical"
    single = harness.run_cell(cell, progress=False)
    assert row["train_loss"] == pytest.approx(single["train_loss"], abs=1e-4)
    assert row["val_loss"] == pytest.approx(single["val_loss"], abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["keras", "keras-graph", "gluon"])
def test_every_mxnet_arm_learns_lenet(impl):
    # The same check for each arm: 1,024 MNIST images (synthetic data where MNIST is absent
    # would not be learnable), 3 epochs; chance is 10% accuracy and a loss of ln 10 = 2.30.
    try:
        benchdata.load("lenet", data="real", max_samples=1)
    except benchdata.DataError:
        pytest.skip("MNIST is not available here")
    cell = {"scenario": "lenet", "impl": impl, "ctx": "cpu", "batch_size": 32, "epochs": 3,
            "data": "real", "max_samples": 1024, "seed": 0, "quiet": True}
    row = harness.run_cell(cell, progress=False)
    assert row["val_accuracy"] > 0.6 and row["val_loss"] < 1.5, row
    assert row["train_loss"] < 2.0, row
