"""The PyTorch yardstick: the same models, initializers and training contract as Gluon and Keras.

Skipped where torch is not installed (it is optional: `make setup-peers`).
"""
import math

import numpy as np
import pytest

from cell import contract, harness
import scenarios
from shim.contexts import parse

try:
    import torch
except ImportError:  # a skip per test, not per module: `-k` then reports only what it selected
    torch = None
else:
    from torch_models import lenet, rnn
    from torch_models import train as torch_train

    MODELS = {"lenet": lenet, "rnn": rnn}

pytestmark = pytest.mark.skipif(torch is None, reason="could not import 'torch' (optional: "
                                                      "make setup-peers)")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Train on one thread: on a loaded machine (CI, other jobs) torch's OpenMP threads stall
    each other when there are fewer free cores than threads, and these tests time nothing."""
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)


def built(name):
    scenario = scenarios.get(name)
    model = MODELS[name]
    net = model.build(scenario)
    model.initialize(net, scenario)
    return scenario, net


def trainable_count(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def glorot_limit(weight):
    receptive = weight[0][0].numel() if weight.dim() > 2 else 1
    fan_out, fan_in = weight.shape[0] * receptive, weight.shape[1] * receptive
    return math.sqrt(6.0 / (fan_in + fan_out))


@pytest.mark.parametrize("name", ["lenet", "rnn"])
def test_trainable_parameters_match_the_scenario(name):
    scenario, net = built(name)
    assert trainable_count(net) == scenario.parameter_count()


def test_lenet_init_glorot_weights_zero_biases():
    _, net = built("lenet")
    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            assert torch.count_nonzero(module.bias) == 0
            limit = glorot_limit(module.weight)
            assert module.weight.abs().max() <= limit
            assert module.weight.abs().max() > 0.9 * limit  # uniform over the whole range


def test_rnn_init_matches_keras_defaults():
    s, net = built("rnn")
    units = s.lstm_units
    emb = net.embedding.weight
    assert emb.abs().max() <= s.embedding_init_scale and emb.std() > 0.5 * s.embedding_init_scale / math.sqrt(3)
    for layer in (net.conv, net.output_layer):
        assert torch.count_nonzero(layer.bias) == 0
        assert layer.weight.abs().max() <= glorot_limit(layer.weight)
    lstm = net.lstm
    # input weights: Glorot over the whole (4H, I) matrix
    w_ih = lstm.weight_ih_l0
    assert w_ih.shape == (4 * units, s.conv_filters)
    assert w_ih.abs().max() <= math.sqrt(6.0 / (s.conv_filters + 4 * units))
    # recurrent weights: orthogonal, gain 1
    w_hh = lstm.weight_hh_l0.detach().double()
    assert torch.allclose(w_hh.T @ w_hh, torch.eye(units, dtype=torch.float64), atol=1e-5)
    # one bias, forget gate (torch's gate order i, f, g, o) at forget_bias; bias_hh zero, frozen
    b = lstm.bias_ih_l0.detach()
    assert torch.all(b[units:2 * units] == s.forget_bias)
    assert torch.count_nonzero(torch.cat([b[:units], b[2 * units:]])) == 0
    assert torch.count_nonzero(lstm.bias_hh_l0) == 0
    assert not lstm.bias_hh_l0.requires_grad


def cell(name, **overrides):
    c = {"scenario": name, "impl": "torch", "ctx": "cpu", "data": "synthetic", "seed": 0,
         "max_samples": 256, "batch_size": 64, "epochs": 2, "quiet": True}
    c.update(overrides)
    return c


@pytest.mark.slow
@pytest.mark.parametrize("name, batch", [("lenet", 64), ("rnn", 100)])  # 100: a partial last batch
def test_tiny_run_through_the_harness(name, batch):
    row = harness.run_cell(cell(name, batch_size=batch), progress=False)
    for key in ("samples_per_s", "epoch_s_median", "warmup_s", "train_loss", "val_loss", "val_s",
                "gflops_per_s"):
        assert math.isfinite(row[key]) and row[key] > 0, key
    assert 0.0 <= row["train_accuracy"] <= 1.0 and 0.0 <= row["val_accuracy"] <= 1.0
    assert row["train_samples"] == 256 and row["devices"] == 1
    assert row["torch"].startswith("2.")


def test_training_leaves_the_recurrent_bias_at_zero_and_counts_every_sample(monkeypatch):
    import benchdata

    s = scenarios.RNN
    data = benchdata.load("rnn", data="synthetic", max_samples=70, seed=1)
    seen, built = [], []
    build = rnn.build

    def keeping_build(scenario):
        built.append(build(scenario))
        return built[-1]

    monkeypatch.setattr(rnn, "build", keeping_build)

    def order(epoch):
        seen.append(epoch)
        if built and epoch == 0:  # initialized, not yet trained
            built.append({name: p.detach().clone() for name, p in built[0].named_parameters()})
        return contract.epoch_order(70, 1, epoch)

    trained = torch_train.train(s, data, parse("cpu"), 32, 2, order, progress=False)
    assert seen == [0, 1] and len(trained.epoch_seconds) == 2
    net, initial = built
    lstm = net.lstm
    # After training: the recurrent bias is still exactly zero; the input bias (the one Keras
    # has) trained, and the other weights too.
    assert torch.count_nonzero(lstm.bias_hh_l0) == 0 and not lstm.bias_hh_l0.requires_grad
    assert not torch.equal(lstm.bias_ih_l0.detach(), initial["lstm.bias_ih_l0"])
    assert not torch.equal(lstm.weight_hh_l0.detach(), initial["lstm.weight_hh_l0"])
    # 70 samples in batches of 32, 32 and 6: every sample counted once in the accuracy
    correct = trained.train_accuracy * 70
    assert abs(correct - round(correct)) < 1e-9
    assert trained.val_probabilities.shape == (70,)
    assert np.all((trained.val_probabilities >= 0) & (trained.val_probabilities <= 1))
    assert trained.trainable_parameters == s.parameter_count()


@pytest.mark.parametrize("spec", ["gpu:0", "gpu:0-1", "cpu:0-1"])
def test_only_one_cpu_context(spec):
    import benchdata

    data = benchdata.load("lenet", data="synthetic", max_samples=8)
    with pytest.raises(ValueError, match="one CPU context") as error:
        torch_train.train(scenarios.LENET, data, parse(spec), 8, 1, lambda e: np.arange(8),
                          progress=False)
    assert "\n" not in str(error.value)


def test_no_distributed_training():
    with pytest.raises(ValueError, match="one CPU context only: no kvstore"):
        harness.run_cell(cell("lenet", kvstore="dist_sync"), progress=False)


def test_threads_follow_omp_num_threads(monkeypatch):
    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch_train.set_threads()
    assert torch.get_num_threads() == 1


# -- the same network as Gluon's: copy Gluon's initialized weights over, compare outputs and a step


def gluon_twin(name, batch):
    """A Gluon net of the scenario, and a torch net holding the same weights."""
    from gluon_models import train as gluon_train

    mx = gluon_train.mx
    scenario = scenarios.get(name)
    g = gluon_train.MODELS[name].build(scenario)
    g.initialize(gluon_train.GLOROT_UNIFORM, ctx=mx.cpu())
    shape = (batch,) + tuple(scenario.input_shape)
    g(mx.nd.zeros(shape, dtype="int32" if name == "rnn" else "float32"))  # shapes are deferred
    _, t = built(name)
    g_params = list(g.collect_params().values())
    t_params = list(t.parameters())
    assert len(g_params) == len(t_params)
    with torch.no_grad():
        for gp, tp in zip(g_params, t_params):
            value = torch.from_numpy(gp.data().asnumpy())
            assert value.shape == tp.shape, (gp.name, tuple(tp.shape))
            tp.copy_(value)
    return scenario, g, t, mx, gluon_train


@pytest.mark.parametrize("name", ["lenet", "rnn"])
def test_same_function_and_gradients_as_gluon(name):
    """Outputs and the gradients of the mean loss agree with Gluon's, weight for weight (so the
    layer order, flattening, padding and LSTM gate order are the same)."""
    import benchdata

    batch = 16
    scenario, g, t, mx, gluon_train = gluon_twin(name, batch)
    data = benchdata.load(name, data="synthetic", max_samples=batch, seed=3)
    x, y = data.x_train, data.y_train
    gx = mx.nd.array(x, dtype=x.dtype)
    tx = torch_train.inputs(x)
    g_out = gluon_train.MODELS[name].probabilities(g(gx)).asnumpy().reshape(batch, -1)
    t_out = MODELS[name].probabilities(t(tx)).detach().numpy().reshape(batch, -1)
    np.testing.assert_allclose(t_out, g_out, rtol=1e-4, atol=1e-5)

    loss_g, _ = gluon_train.loss_and_correct(scenario)
    with mx.autograd.record():
        loss = loss_g(g(gx), mx.nd.array(y, dtype="float32"))
    loss.backward()  # summed over the batch; Trainer.step(batch) divides
    loss_t, _, target = torch_train.loss_and_correct(scenario)
    loss_t(t(tx), target(y)).backward()  # the mean
    compared = 0
    for gp, tp in zip(g.collect_params().values(), t.parameters()):
        assert (gp.grad_req != "null") == tp.requires_grad, gp.name
        if tp.requires_grad:
            expected = gp.grad().asnumpy() / batch
            scale = np.abs(expected).max()
            np.testing.assert_allclose(tp.grad.numpy(), expected, rtol=1e-3,
                                       atol=1e-4 * scale, err_msg=gp.name)
            compared += tp.numel()
    assert compared == scenario.parameter_count()


def test_optimizer_settings_come_from_the_scenario():
    w = [torch.nn.Parameter(torch.zeros(2))]
    sgd = torch_train.optimizer(w, scenarios.LENET.optimizer)
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["lr"] == scenarios.LENET.optimizer.learning_rate
    assert sgd.defaults["momentum"] == 0 and sgd.defaults["weight_decay"] == 0
    spec = scenarios.RNN.optimizer
    adam = torch_train.optimizer(w, spec)
    assert isinstance(adam, torch.optim.Adam)
    assert adam.defaults["lr"] == spec.learning_rate
    assert adam.defaults["betas"] == (spec.beta1, spec.beta2)
    assert adam.defaults["eps"] == spec.epsilon and adam.defaults["weight_decay"] == 0
    assert not adam.defaults["amsgrad"]
