"""The conformance suite's parts, each on its own (docs/conformance.md): the layout conversion,
the exchange's derandomized model, the tolerance, the fixtures' digests, the corpus's coverage
and the command's bad input. Fast; no TensorFlow, no fixtures."""
import json

import numpy as np
import pytest

from conformance import exchange, fixtures, layout, verdict
from conformance.__main__ import main


@pytest.mark.parametrize("class_name,weight,shape", [
    ("Conv2D", "conv2d_1/kernel1", (4, 3, 2, 5)), ("Conv1D", "c/kernel", (4, 3, 2)),
    ("Conv3DTranspose", "c/kernel", (4, 3, 2, 2, 2)),
    ("SeparableConv2D", "s/depthwise_kernel1", (3, 2, 3, 3)),
    ("SeparableConv2D", "s/pointwise_kernel1", (5, 6, 1, 1)),
    ("DepthwiseConv2D", "d/depthwise_kernel1", (3, 2, 3, 3))])
def test_to_mxnet_undoes_to_keras(class_name, weight, shape):
    value = np.random.default_rng(0).normal(size=shape)
    config = {"data_format": "channels_first"}
    keras_value = layout.to_keras(class_name, config, weight, value)
    assert keras_value.shape != value.shape or class_name == "Conv2D"
    assert np.array_equal(layout.to_mxnet(class_name, config, weight, keras_value), value)


def test_channels_last_and_dense_weights_are_left_alone():
    value = np.ones((3, 3, 2, 4))
    assert layout.to_keras("Conv2D", {"data_format": "channels_last"}, "k/kernel", value) is value
    assert layout.to_keras("Dense", {"data_format": "channels_first"}, "d/kernel", value) is value


def test_converted_channels_first_kernel_computes_the_channels_last_convolution():
    """The conversion is right, not only invertible: keras-mxnet's channels_first Conv2D with
    its kernel, and its channels_last Conv2D with that kernel in Keras's layout, compute the
    same function (inputs and outputs transposed)."""
    from shim.keras_mxnet import keras

    L = keras.layers
    first = keras.models.Sequential([L.Conv2D(4, (3, 2), data_format="channels_first",
                                              input_shape=(2, 5, 6))])
    last = keras.models.Sequential([L.Conv2D(4, (3, 2), input_shape=(5, 6, 2))])
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=first.layers[0].kernel.shape).astype(np.float32)
    bias = rng.normal(size=(4,)).astype(np.float32)
    x = rng.normal(size=(2, 2, 5, 6)).astype(np.float32)
    last.set_weights([layout.to_keras("Conv2D", {"data_format": "channels_first"},
                                      "conv/kernel", kernel), bias])
    expected = last.predict(np.transpose(x, (0, 2, 3, 1)))
    first.set_weights([kernel, bias])
    got = first.predict(x)
    assert np.allclose(np.transpose(got, (0, 2, 3, 1)), expected, atol=1e-5)


def test_batchnorm_weights_keras_does_not_have_are_named():
    assert layout.mxnet_only("BatchNormalization", {"scale": False}, "bn/gamma1")
    assert layout.mxnet_only("BatchNormalization", {"center": False}, "bn/beta1")
    assert not layout.mxnet_only("BatchNormalization", {}, "bn/gamma1")
    assert layout.short_name("batch_normalization_1/moving_variance12") == "moving_variance"


def test_convert_h5_drops_the_extra_gamma_and_transposes_the_kernel(tmp_path):
    from shim.keras_mxnet import keras

    L = keras.layers
    model = keras.models.Sequential([
        L.Conv2D(3, 2, data_format="channels_first", input_shape=(2, 4, 4), name="conv"),
        L.BatchNormalization(axis=1, scale=False, name="bn")])
    model.compile("sgd", "mse")
    model.save(str(tmp_path / "m.h5"))
    layout.convert_h5(str(tmp_path / "m.h5"), str(tmp_path / "k.h5"))
    saved = exchange.h5_weights(str(tmp_path / "k.h5"))
    assert saved["conv"][0].shape == (2, 2, 2, 3)
    assert len(saved["bn"]) == 3   # beta, moving mean, moving variance: no gamma


def test_derandomized_config_replaces_every_random_layer_nested_too():
    config = {"class_name": "Model", "config": {"layers": [
        {"class_name": "Dropout", "config": {"name": "d", "rate": 0.5}},
        {"class_name": "TimeDistributed", "config": {"name": "t", "layer": {
            "class_name": "GaussianNoise", "config": {"name": "g", "stddev": 1.0}}}},
        {"class_name": "Dense", "config": {"name": "x", "units": 2}}]}}
    out, changed, described = exchange.derandomized(json.loads(json.dumps(config)))
    assert changed == 2
    assert described == "random layers as LeakyReLU(alpha=1.0), the identity, in training"
    layers = out["config"]["layers"]
    assert layers[0] == {"class_name": "LeakyReLU",
                         "config": {"name": "d", "alpha": 1.0, "trainable": True}}
    assert layers[1]["config"]["layer"]["class_name"] == "LeakyReLU"
    assert layers[2]["class_name"] == "Dense"


def test_derandomized_config_takes_recurrent_dropout_to_zero_wrapped_and_in_cells_too():
    # imdb_lstm's LSTM(dropout=0.2, recurrent_dropout=0.2) trained with masks drawn by two
    # generators: its loss differed from Keras's by 9e-4 (examples.imdb_lstm).
    config = {"class_name": "Model", "config": {"layers": [
        {"class_name": "LSTM", "config": {"name": "l", "dropout": 0.2,
                                          "recurrent_dropout": 0.2}},
        {"class_name": "Bidirectional", "config": {"name": "b", "layer": {
            "class_name": "GRU", "config": {"name": "g", "dropout": 0.0,
                                            "recurrent_dropout": 0.5}}}},
        {"class_name": "RNN", "config": {"name": "r", "cell": {
            "class_name": "SimpleRNNCell", "config": {"name": "c", "dropout": 0.1,
                                                      "recurrent_dropout": 0.0}}}},
        {"class_name": "GRU", "config": {"name": "plain", "dropout": 0.0,
                                         "recurrent_dropout": 0.0}}]}}
    out, changed, described = exchange.derandomized(json.loads(json.dumps(config)))
    assert changed == 3
    assert described == "recurrent layers' dropout and recurrent_dropout 0, in training"
    layers = out["config"]["layers"]
    for inner in (layers[0]["config"], layers[1]["config"]["layer"]["config"],
                  layers[2]["config"]["cell"]["config"], layers[3]["config"]):
        assert inner["dropout"] == 0.0 and inner["recurrent_dropout"] == 0.0
    assert layers[0]["config"]["name"] == "l" and layers[0]["class_name"] == "LSTM"


def test_a_nested_models_weights_are_keyed_layer_by_layer_as_tf_keras_orders_them():
    # tf.keras's `weights` of a model used as a layer go layer by layer; keras-mxnet's put
    # every trainable weight first, so the mnist_acgan generator's gradients after its first
    # BatchNormalization were compared with other weights' (inf).
    from shim.keras_mxnet import keras
    from conformance import stock

    L = keras.layers
    inner = keras.models.Sequential([L.Dense(3, input_shape=(2,), name="d1"),
                                     L.BatchNormalization(name="bn"), L.Dense(1, name="d2")],
                                    name="inner")
    x = L.Input((2,))
    model = keras.models.Model(x, inner(x))
    keys = {key: w.name for key, w, _, _ in stock.keyed(model)}
    owners = [keys[f"inner#{i}"].split("/")[0] for i in range(8)]
    assert owners == ["d1", "d1", "bn", "bn", "bn", "bn", "d2", "d2"]
    assert "moving_variance" in keys["inner#5"] and "kernel" in keys["inner#6"]


def test_the_tolerance_holds_float32_rounding_and_catches_a_real_difference():
    keras = np.random.default_rng(2).normal(size=(64,)).astype(np.float32)
    assert verdict.within(keras, keras * (1 + 1e-6))[0]
    off = keras.copy()
    off[3] += 1e-3
    holds, diff = verdict.within(keras, off)
    assert not holds and diff == pytest.approx(1e-3, rel=1e-3)


def test_a_digest_catches_what_a_full_array_would(tmp_path):
    keras = np.random.default_rng(3).normal(size=(100, 50)).astype(np.float32)
    packed = fixtures.pack("c", {"grad/w#0": keras, "loss": np.float64(1.0)}, "")
    assert "grad/w#0" not in packed and list(packed["digest/keys"]) == ["grad/w#0"]
    fixtures.write("c", packed, str(tmp_path))
    digest = fixtures.read("c", str(tmp_path))["grad/w#0"]
    assert digest["shape"] == (100, 50)
    assert verdict.against(digest, keras)[0]
    assert not verdict.against(digest, keras * 1.01)[0]   # off everywhere: the norm says so
    assert not verdict.against(digest, keras.T.copy())[0]


def test_compare_names_the_first_quantity_that_differs():
    ref = {"pred/0": np.ones(3), "loss": np.array(1.0), "grad/d#0": np.ones(2),
           "sgd/d#0": np.ones(2), "adam/d#0": np.ones(2)}
    stock = {"pred": [np.ones(3)], "loss": 1.0, "grad": {"d#0": np.array([1.0, 2.0])},
             "sgd": {"d#0": np.ones(2)}, "adam": {"d#0": np.ones(2)}, }
    maxima, first = verdict.compare(stock, ref)
    assert first == "the gradient of d#0 differs (max |difference| 1)"
    assert maxima["pred"] == 0
    stock["grad"] = {}
    assert verdict.compare(stock, ref)[1] == "only Keras has the gradient of d#0"


def test_an_ill_conditioned_training_quantity_is_judged_within_its_own_spread_only():
    # ResNet50 at batch 2: stock nudged by one ulp moves its gradients by ~1e5, as far as
    # they are from Keras's; a well-conditioned tensor keeps the float32 tolerance, and
    # predictions never get a spread.
    rng = np.random.default_rng(4)
    keras_grad = rng.normal(size=(1000,)) * 1e5
    ours = {"pred": [np.ones(3)], "loss": 1.0, "grad": {"w#0": keras_grad + 3e4},
            "sgd": {"w#0": np.ones(2)}, "adam": {"w#0": np.ones(2)}}
    nudged = dict(ours, grad={"w#0": keras_grad + 3e4 - rng.normal(size=1000) * 1e4},
                  loss=1.0 + 1e-9)
    ref = {"pred/0": np.ones(3), "loss": np.array(1.0), "grad/w#0": keras_grad,
           "sgd/w#0": np.ones(2), "adam/w#0": np.ones(2)}
    assert verdict.compare(ours, ref)[1].startswith("the gradient of w#0 differs")
    spreads = verdict.spread(ours, nudged)
    assert set(spreads) == {"loss", "grad/w#0", "sgd/w#0", "adam/w#0"}   # no pred
    assert verdict.compare(ours, ref, spreads)[1] is None
    off = dict(ours, loss=1.01)   # the loss's own spread is 1e-9: 0.01 still differs
    assert verdict.compare(off, ref, spreads)[1].startswith("the loss differs")
    far = dict(ours, grad={"w#0": keras_grad + 1e7})   # far beyond 8 x the spread
    assert verdict.compare(far, ref, spreads)[1].startswith("the gradient of w#0 differs")
    # an application's tensor is a digest: its norm gets 8 x the spread's norm as slack
    packed = {"grad/w#0": {"shape": (1000,), "sample": keras_grad[fixtures.positions(1000, 8)],
                           "absmax": float(np.abs(keras_grad).max()),
                           "norm": float(np.sqrt((keras_grad ** 2).sum()))}}
    assert not verdict.against(packed["grad/w#0"], ours["grad"]["w#0"])[0]
    assert verdict.against(packed["grad/w#0"], ours["grad"]["w#0"], spreads["grad/w#0"])[0]


def test_the_conditioning_is_the_largest_of_up_to_nudges_draws(monkeypatch):
    # ResNet50 at batch 2: one nudge moved stock's loss by 0.002 to 0.131 depending on its draw,
    # so a verdict from one draw turned on the draw (and the CPU). Stock's loss is 0.05 from
    # Keras's: the first draw (0.002) cannot hold it, the second (0.01, x 8 = 0.08) does, and
    # no third run is made; where no draw moves it enough, it still differs after NUDGES.
    from conformance import run, stock

    ref = {"pred/0": np.ones(3), "loss": np.array(1.0), "grad/w#0": np.ones(4),
           "sgd/w#0": np.ones(4), "adam/w#0": np.ones(4)}
    ours = {"pred": [np.ones(3)], "loss": 1.05, "grad": {"w#0": np.ones(4)},
            "sgd": {"w#0": np.ones(4)}, "adam": {"w#0": np.ones(4)}}
    _, first = verdict.compare(ours, ref)
    assert first.startswith("the loss differs")

    def judged(moves):
        calls = []

        def fake_run(case, work, nudge=None, model=None, floatx="float32"):
            calls.append(nudge)
            return dict(ours, loss=ours["loss"] + moves[nudge])
        monkeypatch.setattr(stock, "run", fake_run)
        return run._within_conditioning(None, ours, ref, first), calls

    (still, note), calls = judged([0.002, 0.01, 0.5])
    assert still is None and calls == [0, 1]
    assert "2 ways" in note and "loss by up to 0.01" in note
    (still, note), calls = judged([0.002, 0.001, 0.003])
    assert calls == list(range(verdict.NUDGES)) and still.startswith("the loss differs")
    assert "beyond 8 x" in still and note == ""


def test_the_float64_tolerance_is_the_float32_one_scaled_by_the_unit_roundoffs():
    keras = np.random.default_rng(5).normal(size=(64,))
    assert verdict.FLOAT64 == 2.0 ** -29
    assert verdict.within(keras, keras * (1 + 1e-6))[0]   # float32 rounding: holds in float32
    assert not verdict.within(keras, keras * (1 + 1e-6), scale=verdict.FLOAT64)[0]
    assert verdict.within(keras, keras * (1 + 1e-14), scale=verdict.FLOAT64)[0]


def test_a_float32_training_difference_is_judged_again_computed_in_float64(tmp_path,
                                                                           monkeypatch):
    # InceptionResNetV2 at 139: one BatchNorm element within float32 reach of 0 lands on
    # opposite sides of a ReLU's kink, and every gradient below differs beyond any nudge. The
    # case computed in float64 on both sides decides: rounding matches there, a defect does not.
    from conformance import run, stock

    name = "applications.Kinked"
    keras = {"pred/0": np.ones(3), "loss": np.array(0.5), "grad/w#0": np.linspace(1, 2, 4),
             "sgd/w#0": np.ones(4), "adam/w#0": np.ones(4)}
    x, y = [np.zeros((2, 3))], [np.ones((2, 3))]
    fixtures.write(fixtures.in_floatx(name, "float64"), fixtures.pack(
        name, keras, fixtures.digest_of(x + y), floatx="float64"), str(tmp_path))
    ran = []

    def fake_run(case, work, nudge=None, model=None, floatx="float32"):
        ran.append((nudge, floatx))
        return {"pred": [np.ones(3)], "loss": 0.5, "grad": {"w#0": grad}, "x": x, "y": y,
                # a float64 step is not judged: MXNet's update operators hold lr in float32
                "sgd": {"w#0": np.ones(4) * (1 + 1e-9)}, "adam": {"w#0": np.ones(4)},
                "model": None}
    monkeypatch.setattr(stock, "run", fake_run)
    case = type("Case", (), {"name": name})()
    first = "the gradient of w#0 differs (max |difference| 0.3)"

    grad = np.linspace(1, 2, 4) * (1 + 1e-15)   # float64 rounding
    still, note = run._in_float64(case, first, str(tmp_path))
    assert still is None and ran == [(None, "float64")]
    assert run.IN_FLOAT64 in note and first in note
    ran.clear()
    grad = np.linspace(1, 2, 4) * (1 + 1e-6)   # float32 rounding is a difference in float64
    still, note = run._in_float64(case, first, str(tmp_path))
    assert still.startswith(first + "; in float64 too: the gradient of w#0 differs")
    assert note == "" and ran[0] == (None, "float64") and ran[1] == (0, "float64")
    # a case without a float64 fixture keeps its float32 verdict, and nothing runs; nor
    # where float32's gradients matched and a step differs: that is no rounding of a gradient
    ran.clear()
    step = "the SGD step of w#0 differs (max |difference| 0.3)"
    assert run._in_float64(case, step, str(tmp_path)) == (step, "") and ran == []
    other = type("Case", (), {"name": "applications.Other"})()
    assert run._in_float64(other, first, str(tmp_path)) == (first, "") and ran == []


def test_nudged_moves_floats_by_at_most_one_ulp_and_leaves_integers():
    from conformance import stock

    a = np.random.default_rng(5).normal(size=(50, 20)).astype(np.float32)
    tokens = np.arange(6, dtype=np.int32)
    moved, same = stock.nudged([a, tokens], 9)
    steps = (moved - a) / np.spacing(np.abs(a))
    assert moved.dtype == np.float32 and set(np.unique(np.abs(steps))) <= {0.0, 1.0}
    assert 0.3 < (steps != 0).mean() < 0.7 and same is tokens


def test_corpus_covers_every_exported_layer_class_and_application():
    import inspect

    from shim.keras_mxnet import keras
    from conformance.corpus import corpus
    from conformance.layers import ABSTRACT

    cases = corpus()
    assert len(cases) >= 200
    # Model and Sequential are Layers too, and show up in keras.layers's namespace once
    # something has imported them through it: they are models, not exported layers.
    exported = {getattr(keras.layers, n) for n in dir(keras.layers)
                if inspect.isclass(getattr(keras.layers, n))
                and issubclass(getattr(keras.layers, n), keras.engine.Layer)
                and not issubclass(getattr(keras.layers, n), keras.engine.network.Network)}
    covered = {getattr(keras.layers, name) for c in cases.values() if c.kind == "layers"
               for name in c.tags["classes"]}
    missing = {cls.__name__ for cls in exported - covered} - set(ABSTRACT)
    assert not missing
    apps = {n for n in dir(keras.applications) if n[0].isupper()}
    assert apps == {c.tags["class"] for c in cases.values() if c.kind == "applications"}


def test_inputs_are_drawn_alike_every_time():
    from conformance.corpus import corpus

    case = corpus()["LSTM:masking=True"]
    a, b = case.draw_inputs(), case.draw_inputs()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert (a[0][0, -2:] == 0).all() and (a[0][1] != 0).all()


def test_an_unknown_case_is_one_line_and_exit_2(capsys):
    assert main(["--case", "Dense,NoSuchLayer"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NoSuchLayer" in err


def test_a_missing_reference_environment_is_one_line_and_exit_2(capsys, monkeypatch):
    import conformance.__main__ as command

    monkeypatch.setattr(command, "REFERENCE_PYTHON", "/nonexistent/python")
    assert command.main(["reference", "--case", "Dense"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "make setup-reference" in err


def test_an_unknown_kind_is_exit_2(capsys):
    assert main(["--kind", "nonsense"]) == 2


def test_fused_check_compares_a_model_whose_output_length_is_open():
    # lstm_seq2seq's decoder takes sequences of any length: its targets were drawn from the
    # declared output shape (None, None, 9), and the fused check failed ("cannot be compared:
    # 'NoneType' object cannot be interpreted as an integer").
    from conformance.cases import Case
    from conformance.fused_check import check

    def build(keras):
        inputs = keras.layers.Input(shape=(None, 3))
        hidden = keras.layers.LSTM(4, return_sequences=True)(inputs)
        return keras.models.Model(inputs, keras.layers.Dense(2)(hidden))

    row = check(Case("open-length", "layers", build, [((5, 3), "float32", 0)]))
    assert row["fused"] == "verified" and row["fixes"] == "dense"


def test_a_failed_case_leaves_no_pending_error_to_the_next():
    # MXNet raises an operation's error at the next wait: examples.mnist_siamese 'failed' with
    # the oneDNN error of examples.mnist_denoising_autoencoder, judged just before it.
    import mxnet as mx
    from conformance import stock
    from conformance.cases import Case
    from shim.keras_mxnet import keras

    def build(keras):
        mx.nd.random.uniform(1, 0, shape=(2,))   # fails when it runs: low > high
        raise ValueError("this case cannot be built")

    with pytest.raises(stock.Fails, match="cannot be built"):
        stock.build(Case("failing", "layers", build, [((3,), "float32", 0)]), keras)
    mx.nd.waitall()   # the next case's first wait: nothing of the failed case's is left
