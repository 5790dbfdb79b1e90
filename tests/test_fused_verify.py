"""shim/fused/verify.py's own checks: the weights it draws make a valid model, a comparison of
values that are not finite is refused, and MobileNet's fused path is verified."""
import numpy as np

from shim.fused import verify
from shim.keras_mxnet import keras
from keras import layers


def small_bn_model():
    model = keras.models.Sequential([
        layers.Conv2D(4, 3, use_bias=False, input_shape=(8, 8, 3)),
        layers.BatchNormalization(), layers.Activation("relu"),
        layers.Flatten(), layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(lr=0.01), "categorical_crossentropy")
    return model


def test_verification_weights_give_batchnorm_a_positive_variance():
    # Every weight drawn from N(0, 0.2) gave moving variances below -epsilon: the layer's
    # output was NaN, and what each path made of NaN decided the verdict (MobileNet's
    # "predictions differ (max |difference| 0.454), first at layer conv1_bn").
    stock, fast = small_bn_model(), small_bn_model()
    verify.same_weights(stock, fast)
    for model in (stock, fast):
        gamma, _, _, variance = model.layers[1].get_weights()   # as the layer holds them
        assert (variance > 0).all() and abs(gamma.mean() - 1) < 0.5
    x = np.random.default_rng(0).random((4, 8, 8, 3), dtype=np.float32)
    assert np.isfinite(stock.predict(x)).all()


def test_verification_refuses_values_that_are_not_finite():
    assert verify.difference([np.nan, 1.0], [np.nan, 1.0]).startswith("values that are not")
    assert "fused side" in verify.difference([0.0, 1.0], [np.inf, 1.0])
    assert verify.difference([0.0, 1.0], [0.0, 1.0]) is None


def test_mobilenet_fused_is_verified():
    # The model: keras-fused was refused at conv1_bn (see above).
    def build():
        model = keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None,
                                             classes=10)
        model.compile(keras.optimizers.SGD(lr=0.01), "categorical_crossentropy")
        return model

    rng = np.random.default_rng(1)
    x = rng.random((8, 32, 32, 3), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, 8), 10)
    stock, fast = (verify.build(build, fixes) for fixes in (False, None))
    assert verify.first_difference(stock, fast, x, y, ["cpu(0)"]) is None


def test_a_model_with_a_frozen_layer_is_compared():
    # A frozen layer's weights (and a stateful layer's states) have no gradient array: reading
    # one failed the comparison ("'NoneType' object has no attribute 'asnumpy'":
    # examples.mnist_transfer_cnn, pretrained_word_embeddings, conv_lstm, lstm_stateful).
    def build():
        model = keras.models.Sequential([
            layers.Dense(4, input_shape=(3,), trainable=False), layers.Dense(2)])
        model.compile(keras.optimizers.SGD(lr=0.01), "mse")
        return model

    rng = np.random.default_rng(2)
    x, y = rng.random((4, 3), dtype=np.float32), rng.random((4, 2), dtype=np.float32)
    stock, fast = (verify.build(build, fixes) for fixes in (False, None))
    assert verify.first_difference(stock, fast, x, y, ["cpu(0)"]) is None
    assert [g.shape for g in verify.grads(stock)] == [(4, 2), (2,)]


def test_first_layer_names_the_first_differing_layer_from_few_models(monkeypatch):
    # A chain of Dense layers with a shared one (used twice: no one output, skipped) early on;
    # the twin differs from its fourth Dense on. first_layer screens the layers a chunk at a
    # time, a model per chunk and side, and goes layer by layer only through the chunk that
    # differs: not a model per layer and side (quadratic in depth on DenseNet201).
    def build():
        inputs = keras.layers.Input((6,))
        shared = layers.Dense(6, name="shared")
        h = shared(shared(inputs))
        for i in range(8):
            h = layers.Dense(6, activation="tanh", name=f"dense_{i}")(h)
        return keras.models.Model(inputs, h)

    stock, fast = build(), build()
    weights = [np.random.default_rng(0).normal(0, 0.5, w.shape).astype(np.float32)
               for w in stock.get_weights()]
    stock.set_weights(weights)
    fast.set_weights(weights)
    kernel = fast.get_layer("dense_3").get_weights()
    fast.get_layer("dense_3").set_weights([kernel[0] + 0.5, kernel[1]])
    x = np.random.default_rng(1).random((4, 6), dtype=np.float32)
    built = []

    class Counted(keras.models.Model):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(keras.models, "Model", Counted)
    assert verify.first_layer(stock, fast, x, chunk=3) == "dense_3"
    # chunks [shared, dense_0, dense_1] and [dense_2..dense_4], then dense_2 and dense_3 alone
    assert len(built) == 2 * 2 + 2 * 2
    assert verify.first_layer(stock, fast, x, chunk=1) == "dense_3"   # every layer alone
    built.clear()
    assert verify.first_layer(stock, stock, x, chunk=3) is None
    assert len(built) == 2 * 3   # nine layers, three chunks, nothing differs


def fake_training(values, redrawn=None, draws=None):
    """verify.training's stand-in: one loss of `values[model]`, in the order models are asked
    (stock, fused, then stock nudged NUDGES ways; the last value for nudges not given), each
    draw of the weights (`draws`: their seeds, as same_weights was called) from the first;
    `redrawn`: the values of every draw but the first (default: `values`, a defect)."""
    asked, draw = [], [None]

    def training(model, weights, x, y, contexts):
        if draws and draw[0] != len(draws):   # a new draw: its own order from the start
            asked.clear()
            draw[0] = len(draws)
        asked.append(model)
        given = values if not draws or draws[-1] == 0 or redrawn is None else redrawn
        return [("the loss", None, np.float32(given[min(len(asked), len(given)) - 1]))]
    return training


def judged(monkeypatch, values, redrawn=None):
    draws = []
    monkeypatch.setattr(verify, "same_weights",
                        lambda stock, fast, seed=0: draws.append(seed) or [])
    monkeypatch.setattr(verify, "first_layer", lambda stock, fast, x: "bn")
    monkeypatch.setattr(verify, "training", fake_training(values, redrawn, draws))

    class Model:
        def predict(self, x):
            return np.zeros(2, np.float32)

        def set_weights(self, weights):
            pass
    return verify.first_difference(Model(), Model(), None, None, [])


def test_a_training_difference_within_stocks_own_conditioning_is_verified(monkeypatch):
    # Stock moves its loss by 0.01 when its inputs and weights move by one ulp (an
    # ill-conditioned model: BatchNormalization at a 1x1 map, at batch 2): fused 0.05 off is
    # within 8 x that, as conformance/verdict.py judges stock against Keras.
    assert judged(monkeypatch, [1.0, 1.05, 1.01]) is None


def test_a_training_difference_beyond_stocks_own_conditioning_still_differs(monkeypatch):
    said = judged(monkeypatch, [1.0, 1.5, 1.01])
    assert said.startswith("the loss differs (max |difference| 0.5), beyond 8 x its float32 "
                           "conditioning (stock nudged by one ulp, 3 ways, moves it by up to "
                           "0.01)")
    # a well-conditioned model (stock does not move) keeps the float32 tolerance
    assert judged(monkeypatch, [1.0, 1.001, 1.0]).startswith("the loss differs")


def test_a_training_difference_is_judged_again_from_other_draws_of_the_weights(monkeypatch):
    # VGG16 channels_first: one max-pooling window's top two values 3.9e-6 apart, ordered the
    # other way by the fused path's few-ulp rounding, sent that window's gradient to the other
    # pixel; another draw of the weights has no such tie. A defect differs in every draw.
    assert judged(monkeypatch, [1.0, 1.5, 1.0], redrawn=[2.0, 2.0, 2.0]) is None
    said = judged(monkeypatch, [1.0, 1.5, 1.0], redrawn=[2.0, 2.3, 2.0])
    assert said.startswith("the loss differs (max |difference| 0.5)"), said   # the first draw's
    assert verify.REDRAWS == 2


def test_stocks_spread_is_the_largest_of_several_nudges(monkeypatch):
    # ResNet50 at batch 2 (2 values per channel in its last BatchNormalizations): stock nudged
    # five ways moved its loss by 0.002 to 0.131, and the fused path's 0.122 was judged
    # against the one draw of 0.014 (then "the loss differs"): the spread is the largest of
    # verify.NUDGES draws.
    assert verify.NUDGES == 3
    assert judged(monkeypatch, [1.0, 1.5, 1.01, 1.2, 1.0]) is None
    said = judged(monkeypatch, [1.0, 3.0, 1.01, 1.2, 1.0])
    assert "moves it by up to 0.2)" in said


def test_a_training_difference_is_placed_from_the_weights_both_started_from(monkeypatch):
    # After training, each model holds the weights its own steps made; compared from those,
    # every training difference was "first at layer" the model's first layer with a weight
    # (ResNet50's conv1), though every layer predicted alike from the same weights.
    def build():
        model = keras.models.Sequential([layers.Dense(4, input_shape=(3,), activation="tanh"),
                                         layers.Dense(2)])
        model.compile(keras.optimizers.SGD(lr=0.01), "mse")
        return model

    stock, fast = (verify.build(build, fixes) for fixes in (False, None))
    real = verify.training

    def training(model, weights, x, y, contexts):
        found = real(model, weights, x, y, contexts)
        if model is fast:   # a fused path whose training alone differs
            model.set_weights([w + 0.5 for w in weights])
            found[0] = ("the loss", None, found[0][2] + 1)
        return found

    monkeypatch.setattr(verify, "training", training)
    rng = np.random.default_rng(4)
    x, y = rng.random((4, 3), dtype=np.float32), rng.random((4, 2), dtype=np.float32)
    said = verify.first_difference(stock, fast, x, y, ["cpu(0)"])
    assert said.startswith("the loss differs")
    assert said.endswith("in training only: every layer's prediction agrees"), said


def test_verification_weights_keep_a_deep_wide_stack_finite_and_unsaturated():
    # N(0, 0.2) for every kernel multiplied the signal by ~0.2 sqrt(fan) per layer: DenseNet201
    # reached inf ("predictions differ (values that are not finite (NaN or inf) on both
    # sides)") and ResNet50's 2048-wide classifier saturated its softmax, where the loss in
    # training turned on rounding. A kernel of a large fan is drawn at 1 / sqrt(fan).
    def build():
        model = keras.models.Sequential(
            [layers.Dense(256, activation="relu", input_shape=(64,))] +
            [layers.Dense(256, activation="relu") for _ in range(19)] +
            [layers.Dense(10, activation="softmax")])
        model.compile(keras.optimizers.SGD(lr=0.01), "categorical_crossentropy")
        return model

    model = build()
    verify.same_weights(model, model)
    x = np.random.default_rng(5).random((8, 64), dtype=np.float32)
    p = model.predict(x)
    assert np.isfinite(p).all() and p.max() < 0.99, p.max()
    assert model.layers[1].get_weights()[0].std() < 1.1 / np.sqrt(256)
    # a narrow kernel (fan 25 or less) and an Embedding's table keep N(0, 0.2)
    assert verify.kernel_scale("kernel", (5, 4)) == verify.WEIGHT_SCALE
    assert verify.kernel_scale("embeddings", (20000, 64)) == verify.WEIGHT_SCALE


def test_the_rule_is_verdicts_own():
    from conformance import verdict

    assert verdict.CONDITIONED is verify.CONDITIONED


def ill_conditioned_model():
    # BatchNormalization in training at a 1x1 map: 2 values per channel at batch 2
    model = keras.models.Sequential([
        layers.Conv2D(4, 3, input_shape=(3, 3, 2)), layers.BatchNormalization(),
        layers.Activation("relu"), layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(lr=0.01), "categorical_crossentropy")
    return model


def test_stocks_spread_is_measured_and_the_verdict_is_repeatable():
    rng = np.random.default_rng(3)
    x = rng.random((2, 3, 3, 2), dtype=np.float32)
    y = keras.utils.to_categorical([0, 2], 3)
    verdicts = []
    for _ in range(2):
        stock, fast = (verify.build(ill_conditioned_model, f) for f in (False, None))
        verdicts.append(verify.first_difference(stock, fast, x, y, ["cpu(0)"]))
    assert verdicts[0] == verdicts[1] and verdicts[0] is None
    weights = verify.same_weights(stock, fast)
    ours = verify.training(stock, weights, x, y, ["cpu(0)"])
    moved = verify.spread(stock, weights, x, y, ["cpu(0)"], ours)
    assert len(moved) == len(ours) and max(moved) > 0
    assert verify.nudged([np.array([1.0, 2.0], np.float32)], 0)[0].tolist() == [1.0, 2.0]
