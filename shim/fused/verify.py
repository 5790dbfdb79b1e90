"""Does a model built with the fused path compute what the same model built stock computes?

From the same weights: the predictions, the loss of one batch, the gradient of every trainable
weight, and the parameters after one SGD and one Adam step, within float32 tolerance. The first
quantity that differs is named with the first layer that differs. tests/test_fused.py holds every
fix to this on the scenarios' and other models; bench.py --model holds a user's model to it
before any fused arm of it is timed (keras_models/user_model.py).

The optimizer steps are SGD's and Adam's whatever the model was compiled with: the fused path
changes how gradients are computed, not how an optimizer applies them.
"""
import numpy as np

TOLERANCE = {"rtol": 2e-4, "atol": 2e-6}
# float32 sums of many terms (a gradient over a batch, an FC against a dot) round to ~1e-7 of
# their largest terms: an element near zero is compared on the scale of its tensor.
SCALE_ATOL = 2e-5
# An ill-conditioned training quantity is judged within this many times how far stock moves
# with its inputs and weights nudged by one ulp (first_difference). 8: the ratio (stock
# against Keras / stock against itself so nudged) measured 0.3 to 2 on the applications and
# the mnist_acgan generator, and varies from tensor to tensor. conformance/verdict.py judges
# stock against Keras by the same constant, imported from here (shim must not import
# conformance).
CONDITIONED = 8
WEIGHTS_SEED = 0
# How many ways spread() nudges stock. One was too few: where training is chaotic (ResNet50 at
# 32 x 32, batch 2: its last stage's BatchNormalizations see 2 values per channel), one nudge
# moves a scalar such as the loss by anything from 0.002 to 0.131 depending on its draw (five
# draws), and the fused path's 0.122 was judged against a draw of 0.014. The tensors' spreads,
# maxima over many elements, vary far less from draw to draw; the loss's needs the largest of a
# few.
NUDGES = 3
# first_layer's layers per screening model
CHUNK = 32


def build(builder, fixes, seed=0):
    """builder() (a compiled model) with `fixes` of the fused path on while it is built (False:
    stock), from seeded initial weights; the path is off again afterwards."""
    import mxnet as mx
    from shim import fused

    np.random.seed(seed)   # the initial weights: Keras draws from both generators
    mx.random.seed(seed)
    if fixes is not False:
        fused.enable(fixes)
    try:
        return builder()
    finally:
        fused.disable()


def difference(a, b, slack=0.0):
    """'max |difference| X' where b is not a within float32 tolerance, else None; slack: a
    larger atol (CONDITIONED x stock's own spread, for an ill-conditioned quantity)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return f"shape {b.shape} against {a.shape}"
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        # NaN never equals NaN, and what a path makes of one (a ReLU, a fused operator) is
        # its own: such a comparison shows nothing either way.
        return "values that are not finite (NaN or inf) on " + (
            "both sides" if not np.isfinite(a).all() else "the fused side")
    atol = max(TOLERANCE["atol"], SCALE_ATOL * float(np.abs(a).max(initial=0)), slack)
    if np.allclose(b, a, rtol=TOLERANCE["rtol"], atol=atol):
        return None
    return f"max |difference| {float(np.abs(b - a).max()):.3g}"


WEIGHT_SCALE = 0.2   # the spread of a drawn weight (weight_like)


def weight_like(weight, shape, rng):
    """A random value for one weight, drawn by its role: N(0, 0.2) (larger than initial weights,
    so that every path carries signal), except a BatchNormalization's moving variance, which
    must be positive (a negative one made the layer's output NaN: MobileNet's conv1_bn), its
    gamma, drawn around 1 so that the signal survives a deep stack of them, and a kernel of a
    large fan (kernel_scale)."""
    role = weight.name.split("/")[-1].rstrip("0123456789")
    if role == "moving_variance":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if role == "gamma":
        return rng.normal(1.0, 0.2, shape).astype(np.float32)
    return rng.normal(0, kernel_scale(role, shape), shape).astype(np.float32)


def kernel_scale(role, shape):
    """WEIGHT_SCALE, but at most 1 / sqrt(fan) for a kernel (2 or more axes): N(0, 0.2)
    multiplies a signal by about 0.2 sqrt(fan), ~6 at a fan of 1,000, so a deep stack of wide
    layers grew it layer by layer to inf on both sides (DenseNet201: past 1e38 by
    conv5_block8_1_bn, where "predictions differ (values that are not finite (NaN or inf) on
    both sides)"), and short of that drove the softmax into saturation, where the loss in
    training turns on rounding (ResNet50 channels_first: stock's loss 11.45, the fused path's
    8.89, from the same weights; a uniform guess is 2.30). The fan as conformance/cases.py's
    draw_weights takes it, whatever the layout: the weight's size over its second-largest
    axis. A kernel of fan 25 or less is drawn as before, and so is an Embedding's table, which
    is looked up, not multiplied by."""
    if len(shape) < 2 or role == "embeddings":
        return WEIGHT_SCALE
    fan = max(float(np.prod(shape)) / sorted(shape)[-2], 1.0)
    return min(WEIGHT_SCALE, 1 / np.sqrt(fan))


def same_weights(stock, fast, seed=WEIGHTS_SEED):
    """Both models given the same random weights (weight_like, drawn from `seed`); returns
    them."""
    rng = np.random.default_rng(seed)
    # get_weights' order: layer by layer (model.weights lists all trainable weights first)
    ordered = [w for layer in stock.layers for w in layer.weights]
    weights = [weight_like(w, value.shape, rng)
               for w, value in zip(ordered, stock.get_weights())]
    for model in (stock, fast):
        model.set_weights(weights)
    return weights


def grads(model):
    """The gradient of every trainable weight from the last training batch, summed over the
    contexts (each holds its part's mean; the optimizer divides by their number). A weight
    MXNet computes no gradient for (a frozen layer's, a stateful layer's states) has no
    gradient array (None) and is no trainable weight: it is skipped, not read."""
    group = model._module._curr_module._exec_group
    by_name = {name: sum(g.asnumpy() for g in per_device)
               for name, per_device in zip(group.param_names, group.grad_arrays)
               if all(g is not None for g in per_device)}
    return [by_name[w.name] for w in model.trainable_weights]


def params(model):
    args, _ = model._module.get_params()
    return [args[w.name].asnumpy() for w in model.trainable_weights]


def recompile(model, optimizer, contexts):
    model.compile(optimizer=optimizer, loss=model.loss, loss_weights=model.loss_weights,
                  sample_weight_mode=model.sample_weight_mode, context=list(contexts))


def as_list(value):
    return value if isinstance(value, list) else [value]


STEPS = (("SGD", lambda keras: keras.optimizers.SGD(lr=0.1)),
         # Adam's first step is lr * g / (|g| + epsilon): with Keras's epsilon it is a sign
         # function wherever a gradient is near zero, which float32 rounding flips; a larger
         # epsilon keeps it a function of the gradient (compared exactly below).
         ("Adam", lambda keras: keras.optimizers.Adam(lr=0.01, epsilon=1e-3)))


def training(model, weights, x, y, contexts):
    """[(what, weight or None, array)]: the loss of one batch, each trainable weight's gradient
    and its values after one SGD step, then after one Adam step, from `weights` on (x, y)."""
    from shim.keras_mxnet import keras
    import mxnet as mx

    found = []
    for name, optimizer in STEPS:
        recompile(model, optimizer(keras), contexts)
        model.set_weights(weights)
        mx.random.seed(WEIGHTS_SEED)   # the same dropout masks, where the model has some
        found.append(("the loss", None, np.atleast_1d(model.train_on_batch(x, y))[0]))
        checks = [("the gradient of", grads)] if name == "SGD" else []
        for what, values in checks + [(f"the {name} step of", params)]:
            found += [(what, w, v) for w, v in zip(model.trainable_weights, values(model))]
    return found


def nudged(arrays, seed):
    """Each float array with its elements moved by one unit in the last place, up, down or not
    at all, drawn from `seed`: the rounding any float32 computation already makes (as
    conformance/stock.py nudges a case). An array of whole numbers (tokens, classes drawn as
    floats) is no rounding: left as it is."""
    rng = np.random.default_rng(seed)
    out = []
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind != "f" or np.array_equal(a, np.round(a)):
            out.append(a)
            continue
        up = rng.integers(0, 2, a.shape).astype(bool)
        moved = np.nextafter(a, np.where(up, np.inf, -np.inf).astype(a.dtype))
        out.append(np.where(rng.integers(0, 2, a.shape).astype(bool), a, moved))
    return out


def spread(stock, weights, x, y, contexts, ours):
    """How far each training quantity of stock (`ours`, from training()) moves when its inputs
    and weights are nudged by one ulp: [max |difference|], in training()'s order, the largest
    over NUDGES nudges (0 where that is not finite: no slack from it)."""
    found = [0.0] * len(ours)
    for draw in range(NUDGES):
        xs = nudged(as_list(x), WEIGHTS_SEED + 4 + 2 * draw)
        theirs = training(stock, nudged(weights, WEIGHTS_SEED + 3 + 2 * draw),
                          xs if isinstance(x, list) else xs[0], y, contexts)
        for i, ((_, _, a), (_, _, b)) in enumerate(zip(ours, theirs)):
            diff = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
            if np.isfinite(diff).all():
                found[i] = max(found[i], float(diff.max(initial=0)))
    return found


# How many other draws of the weights judge a training difference again (first_difference).
REDRAWS = 2


def first_difference(stock, fast, x, y, contexts):
    """None where `fast` computes what `stock` does on the batch (x, y); else one line: what
    differs first, and the first layer where it does. Both models are recompiled and stepped.

    The gradient of a max (max pooling, a ReLU) jumps where two of its inputs tie, and the two
    paths round the forward pass apart by a few ulp (a bias added inside the convolution or
    after it), so a draw of weights can put a near-tie on opposite sides of it. VGG16
    channels_first: in one of block3_pool's 8,192 windows the top two values stood 3.9e-6
    apart (0.03618993 and 0.03619007 in stock), the fused path's order of them was the other,
    the window's gradient went to the other pixel, and every kernel gradient of blocks 1-3
    differed by 1-3% while every bias gradient and every later layer agreed. A one-ulp nudge of
    stock's inputs does not reach such a tie. So a difference in training is judged again from
    REDRAWS other draws of the weights: a defect of the fused path differs in every draw, a
    near-tie does not come back. The first draw's difference is said unless every redraw is
    verified; a difference in predictions (continuous in the weights) is said at once.
    """
    found = _first_difference(stock, fast, x, y, contexts, WEIGHTS_SEED)
    if found is None or found.startswith("predictions"):
        return found
    for seed in range(WEIGHTS_SEED + 1, WEIGHTS_SEED + 1 + REDRAWS):
        if _first_difference(stock, fast, x, y, contexts, seed) is not None:
            return found
    return None


def _first_difference(stock, fast, x, y, contexts, seed):
    """first_difference from one draw of the weights (`seed`).

    Predictions are judged within the float32 tolerance. A training quantity (loss, gradient,
    SGD and Adam steps) of an ill-conditioned model (BatchNormalization in training over 2
    values per channel at a 1x1 map, at batch 2) cannot be: stock moves as much when its
    inputs and weights move by one ulp. Where one differs, each is judged again within
    CONDITIONED x stock's own spread so nudged (the largest of NUDGES nudges), tensor by
    tensor: the rule conformance/verdict.py judges stock against Keras by, from this one
    constant."""
    weights = same_weights(stock, fast, seed)
    predicted = [as_list(m.predict(x)) for m in (stock, fast)]
    for a, b in zip(*predicted):
        found = difference(a, b)
        if found:
            return f"predictions differ ({found}), {where(first_layer(stock, fast, x))}"
    ours = training(stock, weights, x, y, contexts)
    theirs = training(fast, weights, x, y, contexts)
    if not any(difference(a, b) for (_, _, a), (_, _, b) in zip(ours, theirs)):
        return None
    spreads = spread(stock, weights, x, y, contexts, ours)
    for (what, weight, a), (_, _, b), moved in zip(ours, theirs, spreads):
        found = difference(a, b, slack=CONDITIONED * moved)
        if not found:
            continue
        beyond = f", beyond {CONDITIONED} x its float32 conditioning (stock nudged by one " \
            f"ulp, {NUDGES} ways, moves it by up to {moved:.3g})" if moved else ""
        if weight is None:
            # Each model now holds the weights its own steps made, which differ wherever
            # their gradients did: the layers are compared from the weights both started
            # from, as the predictions were (from the stepped ones, every such difference
            # was said to be "first at layer" the first layer with a weight: ResNet50's conv1).
            for model in (stock, fast):
                model.set_weights(weights)
            return f"{what} differs ({found}){beyond}, {where(first_layer(stock, fast, x))}"
        return f"{what} {weight.name} differs ({found}){beyond}, at layer {owner(stock, weight)}"
    return None


def where(layer):
    return f"first at layer {layer}" if layer else \
        "in training only: every layer's prediction agrees"


def owner(model, weight):
    for layer in model.layers:
        if any(w is weight for w in layer.trainable_weights):
            return layer.name
    return "?"


def first_layer(stock, fast, x, chunk=CHUNK):
    """The name of the first layer (in the model's order) whose output differs between the two
    models, which hold the same weights; None when each layer's output agrees.

    One model per layer made this quadratic in depth (DenseNet201, first differing some 500
    layers in, built about a thousand models): the layers are screened `chunk` at a time, by one
    model per side whose outputs are theirs, and only a chunk where something differs (or that
    cannot be predicted whole) is gone through layer by layer, each layer's output by a model of
    its own as before; so the name is always one that the layer's own model shows differing."""
    from shim.keras_mxnet import keras

    pairs = [(layer, twin) for layer, twin in zip(stock.layers, fast.layers)
             if not isinstance(layer, keras.engine.InputLayer)]
    for start in range(0, len(pairs), chunk):
        part = pairs[start:start + chunk]
        try:
            if not _outputs_differ(stock, fast, part, x, keras):
                continue
        except Exception:
            pass   # gone through layer by layer below
        for layer, twin in part:
            try:
                if _outputs_differ(stock, fast, [(layer, twin)], x, keras):
                    return layer.name
            except Exception:   # a layer used at several places has no one output: skipped
                continue
    return None


def _outputs_differ(stock, fast, pairs, x, keras):
    """Whether any of `pairs`' outputs differ, predicted by one model per side. A layer used at
    several places (no one output) is left out of a chunk; alone, it raises."""
    kept = []
    for layer, twin in pairs:
        try:
            kept.append((as_list(layer.output), as_list(twin.output)))
        except AttributeError:
            if len(pairs) == 1:
                raise
    outputs = [as_list(keras.models.Model(m.inputs, [t for k in kept for t in k[side]])
                       .predict(x))
               for m, side in ((stock, 0), (fast, 1))] if kept else [[], []]
    at = [0, 0]
    for ours, theirs in kept:
        got = zip(outputs[0][at[0]:at[0] + len(ours)], outputs[1][at[1]:at[1] + len(theirs)])
        at = [at[0] + len(ours), at[1] + len(theirs)]
        if any(difference(a, b) for a, b in got):
            return True
    return False
