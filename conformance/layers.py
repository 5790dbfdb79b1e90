"""Cases of every layer class Keras 2.2.4's keras.layers exports, generated from one list.

Each row: the class, its base options, the input shapes (channels last; a channels_first
variant gets its channels moved first), and variants: each (option, value) gives one more case
with that one option changed from the base. A row may put layers before or after the layer
under test (a Masking before an LSTM, an LSTM after an Embedding with mask_zero).
ABSTRACT names the exported classes that are not layers one can build alone, and where they are
covered instead; tests/test_conformance_corpus.py holds that every exported class is covered.
"""
from conformance.cases import BATCH, Case

ACTIVATIONS = ["relu", "tanh", "sigmoid", "hard_sigmoid", "softmax", "elu", "selu", "softplus",
               "softsign", "exponential", "linear"]
CF = ("data_format", "channels_first")
RANDOM = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
          "GaussianNoise", "GaussianDropout"}
ABSTRACT = {
    "Layer": "the base class: every case is made of its subclasses",
    "Wrapper": "abstract: its subclasses TimeDistributed and Bidirectional have cases",
    "Recurrent": "Keras 1's abstract recurrent base (legacy): RNN and its subclasses have cases",
    "ConvRecurrent2D": "Keras 1's abstract base (legacy): ConvLSTM2D has cases",
    "InputLayer": "every case's model starts with one",
}


def row(cls, base, shapes, variants=(), before=(), after=(), ints=0, batch=None, loss="mse"):
    return dict(cls=cls, base=base, shapes=shapes, variants=list(variants), before=list(before),
                after=list(after), ints=ints, batch=batch, loss=loss)


def _rnn_variants(cls):
    gates = [("recurrent_activation", "sigmoid"), ("implementation", 2)] if cls != "SimpleRNN" \
        else []
    extra = [("reset_after", True)] if cls == "GRU" else []
    return [("return_sequences", True), ("return_state", True), ("go_backwards", True),
            ("unroll", True), ("activation", "relu"), ("use_bias", False),
            ("stateful", True), ("unit_forget_bias", False) if cls == "LSTM" else
            ("recurrent_initializer", "glorot_uniform")] + gates + extra


ROWS = [
    row("Dense", {"units": 3}, [(5,)], [("activation", a) for a in ACTIVATIONS] +
        [("use_bias", False)]),
    row("Dense", {"units": 3}, [(4, 5)], [], ),
    row("Activation", {"activation": "relu"}, [(5,)],
        [("activation", a) for a in ACTIVATIONS[1:]]),
    row("Conv1D", {"filters": 3, "kernel_size": 3}, [(8, 4)],
        [("padding", "same"), ("padding", "causal"), ("strides", 2), ("dilation_rate", 2),
         ("use_bias", False), ("activation", "relu"), CF]),
    row("Conv2D", {"filters": 3, "kernel_size": 3}, [(6, 6, 2)],
        [("padding", "same"), ("strides", 2), ("dilation_rate", 2), ("use_bias", False),
         ("activation", "relu"), CF, ({"data_format": "channels_first", "padding": "same",
                                       "strides": 2}, None)]),
    row("Conv3D", {"filters": 2, "kernel_size": 2}, [(4, 4, 4, 2)],
        [("padding", "same"), ("strides", 2), ("use_bias", False), CF]),
    row("Conv2DTranspose", {"filters": 3, "kernel_size": 3}, [(4, 4, 2)],
        [("padding", "same"), ("strides", 2), ({"strides": 2, "output_padding": 1}, None),
         ("use_bias", False), CF,
         ({"data_format": "channels_first", "strides": 2}, None)]),
    row("Conv3DTranspose", {"filters": 2, "kernel_size": 2}, [(3, 3, 3, 2)],
        [("strides", 2), ("padding", "same"), CF]),
    row("SeparableConv1D", {"filters": 3, "kernel_size": 3}, [(8, 4)],
        [("depth_multiplier", 2), ("padding", "same"), ("strides", 2), CF]),
    row("SeparableConv2D", {"filters": 3, "kernel_size": 3}, [(6, 6, 2)],
        [("depth_multiplier", 2), ("padding", "same"), ("strides", 2), ("dilation_rate", 2),
         ("use_bias", False), CF]),
    row("DepthwiseConv2D", {"kernel_size": 3}, [(6, 6, 2)],
        [("depth_multiplier", 2), ("padding", "same"), ("strides", 2), ("use_bias", False),
         CF]),
    # No implementation=2 variant: Keras 2.2.4's LocallyConnected1D/2D have no `implementation`
    # argument (keras/layers/local.py at tag 2.2.4; tf.keras added it later), so Keras 2.2.4
    # itself rejects it ("Keyword argument not understood") and it is no case of this corpus.
    row("LocallyConnected1D", {"filters": 2, "kernel_size": 3}, [(6, 3)],
        [("strides", 2), ("use_bias", False)]),
    row("LocallyConnected2D", {"filters": 2, "kernel_size": 3}, [(5, 5, 2)],
        [("strides", 2), CF]),
] + [
    row(f"{kind}Pooling{d}D", {}, [shape], [("padding", "same"), ("strides", 1), ("pool_size", 3),
                                            CF][: 4 if d < 3 else 2] + ([CF] if d == 3 else []))
    for kind in ("Max", "Average") for d, shape in ((1, (6, 3)), (2, (6, 6, 2)), (3, (4, 4, 4, 2)))
] + [
    row(f"Global{kind}Pooling{d}D", {}, [shape], [CF])
    for kind in ("Max", "Average") for d, shape in ((1, (6, 3)), (2, (5, 5, 2)), (3, (3, 3, 3, 2)))
] + [
    row("UpSampling1D", {"size": 2}, [(4, 3)], [("size", 3)]),
    row("UpSampling2D", {"size": 2}, [(3, 3, 2)], [("interpolation", "bilinear"), CF]),
    row("UpSampling3D", {"size": 2}, [(2, 2, 2, 2)], [CF]),
    row("ZeroPadding1D", {"padding": 1}, [(4, 3)], [("padding", (1, 2))]),
    row("ZeroPadding2D", {"padding": 1}, [(3, 3, 2)], [("padding", ((1, 2), (0, 1))), CF]),
    row("ZeroPadding3D", {"padding": 1}, [(2, 2, 2, 2)], [CF]),
    row("Cropping1D", {"cropping": 1}, [(5, 3)], [("cropping", (0, 2))]),
    row("Cropping2D", {"cropping": 1}, [(5, 5, 2)], [("cropping", ((1, 2), (0, 1))), CF]),
    row("Cropping3D", {"cropping": 1}, [(4, 4, 4, 2)], [CF]),
    row("Flatten", {}, [(3, 4, 2)], [CF]),
    row("Reshape", {"target_shape": (4, 3)}, [(12,)], [("target_shape", (-1, 2))]),
    row("Permute", {"dims": (2, 1)}, [(3, 4)], []),
    row("RepeatVector", {"n": 3}, [(4,)], []),
    row("Lambda", {"function": "double"}, [(4,)], []),
    # A batch of one: Keras 2.2.4 adds the activity penalty to the loss as it is (keras/engine/
    # base_layer.py at tag 2.2.4), tf.keras 2.15 divides it by the batch size first; with one
    # sample both are Keras's, and the case compares the penalty, not that change of Keras.
    row("ActivityRegularization", {"l1": 0.01, "l2": 0.01}, [(4,)], [], batch=1),
    row("Masking", {"mask_value": 0.0}, [(5, 3)], [], after=[("LSTM", {"units": 2})]),
    row("Dropout", {"rate": 0.5}, [(6,)], [("noise_shape", (1, 6))]),
    row("SpatialDropout1D", {"rate": 0.5}, [(4, 3)], []),
    row("SpatialDropout2D", {"rate": 0.5}, [(3, 3, 2)], [CF]),
    row("SpatialDropout3D", {"rate": 0.5}, [(2, 2, 2, 2)], [CF]),
    row("GaussianNoise", {"stddev": 0.5}, [(6,)], []),
    row("GaussianDropout", {"rate": 0.5}, [(6,)], []),
    row("AlphaDropout", {"rate": 0.5}, [(6,)], []),
    row("LeakyReLU", {"alpha": 0.3}, [(6,)], []),
    row("PReLU", {}, [(3, 4)], [("shared_axes", [1])]),
    row("ELU", {"alpha": 0.5}, [(6,)], []),
    row("ThresholdedReLU", {"theta": 0.5}, [(6,)], []),
    row("Softmax", {}, [(3, 4)], [("axis", 1)]),
    row("ReLU", {}, [(6,)], [("max_value", 0.5), ("negative_slope", 0.1), ("threshold", 0.2)]),
    row("BatchNormalization", {}, [(5,)], [("center", False), ("scale", False),
                                           ("momentum", 0.5)]),
    # keras-applications' epsilon (DenseNet, ResNet50): MXNet must not clamp it
    row("BatchNormalization", {"axis": 1}, [(2, 3, 3)], [("epsilon", 1.001e-5)]),
    row("Embedding", {"input_dim": 10, "output_dim": 3}, [(5,)], [("input_length", 5)], ints=10),
    row("Embedding", {"input_dim": 10, "output_dim": 3, "mask_zero": True}, [(5,)], ints=10,
        after=[("LSTM", {"units": 2})]),
] + [
    row(cls, {}, [(4,), (4,)], []) for cls in ("Add", "Subtract", "Multiply", "Average",
                                                "Maximum", "Minimum")
] + [
    row("Concatenate", {}, [(3, 4), (3, 2)], [("axis", -1)]),
    row("Concatenate", {"axis": 1}, [(3, 4), (2, 4)], []),
    row("Dot", {"axes": 1}, [(4,), (4,)], [("normalize", True)]),
    row("Dot", {"axes": (1, 2)}, [(3, 4), (2, 3)], []),
] + [
    row(cls, {"units": 3}, [(5, 4)], _rnn_variants(cls) + [("masking", True)])
    for cls in ("SimpleRNN", "GRU", "LSTM")
] + [
    row("RNN", {"cell": (c, {"units": 3})}, [(5, 4)], [("return_sequences", True)])
    for c in ("SimpleRNNCell", "GRUCell", "LSTMCell")
] + [
    row("RNN", {"cell": ("StackedRNNCells", {"cells": [("LSTMCell", {"units": 3}),
                                                        ("GRUCell", {"units": 2})]})},
        [(5, 4)], []),
    row("ConvLSTM2D", {"filters": 2, "kernel_size": 3}, [(3, 5, 5, 2)],
        [("return_sequences", True), ("padding", "same"), CF]),
    row("ConvRNN2D", {"cell": ("ConvLSTM2DCell", {"filters": 2, "kernel_size": 3})},
        [(3, 5, 5, 2)], []),
    row("TimeDistributed", {"layer": ("Dense", {"units": 2})}, [(3, 4)], []),
    row("TimeDistributed", {"layer": ("Conv2D", {"filters": 2, "kernel_size": 2})},
        [(3, 4, 4, 2)], []),
    row("CuDNNGRU", {"units": 3}, [(5, 4)], []),
    row("CuDNNLSTM", {"units": 3}, [(5, 4)], []),
    row("Highway", {}, [(4,)], []),
    row("MaxoutDense", {"output_dim": 3}, [(4,)], []),
] + [
    row("Bidirectional", {"layer": (rnn, {"units": 3})}, [(5, 4)],
        [("merge_mode", m) for m in ("sum", "mul", "ave", None)] +
        [("layer", (rnn, {"units": 3, "return_sequences": True}))], after=[("Dense", {"units": 2})])
    for rnn in ("LSTM", "GRU", "SimpleRNN")
]


def _variant_name(option, value):
    if isinstance(option, dict):
        return "+".join(f"{k}={v}" for k, v in option.items())
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return f"{option}={value[0]}({','.join(f'{k}={v}' for k, v in value[1].items())})"
    return f"{option}={value}".replace(" ", "")


def cases():
    found, seen = [], set()
    for r in ROWS:
        shapes_key = "x".join("-".join(map(str, s)) for s in r["shapes"])
        for option, value in [(None, None)] + r["variants"]:
            options = dict(r["base"])
            if isinstance(option, dict):
                options.update(option)
            elif option == "masking":
                pass
            elif option is not None:
                options[option] = value
            label = r["cls"] + "".join(f"({v[0]})" for k, v in r["base"].items()
                                       if k in ("cell", "layer")) + \
                "".join(f">{a[0]}" for a in r["after"])
            name = label if option is None else f"{label}:{_variant_name(option, value)}"
            if name in seen:
                name = f"{name}@{shapes_key}"
            if name in seen:   # same class and shapes, other base options
                name = f"{name}@" + ",".join(f"{k}={v}" for k, v in r["base"].items())
            seen.add(name)
            found.append(_case(name, r, options, masked=option == "masking"))
    return found


def _case(name, r, options, masked):
    first = options.get("data_format") == "channels_first"
    shapes = [(s[-1],) + tuple(s[:-1]) if first and len(s) > 1 else tuple(s)
              for s in r["shapes"]]
    stateful = options.get("stateful", False)
    before = r["before"] + ([("Masking", {"mask_value": 0.0})] if masked else [])
    # merge_mode=None gives the two directions as two outputs: nothing to put after them
    after = [] if "merge_mode" in options and options["merge_mode"] is None else r["after"]
    build = lambda keras: _model(keras, r["cls"], options, shapes, before, after, stateful)
    return Case(name, "layers", build, [(s, "int32" if r["ints"] else "float32", r["ints"])
                                        for s in shapes],
                loss=r["loss"], random=r["cls"] in RANDOM, batch=r["batch"] or BATCH,
                masked_tail=masked or r["cls"] == "Masking" or bool(options.get("mask_zero")),
                tags={"class": r["cls"], "data_format": options.get("data_format", ""),
                      "classes": sorted(_classes((r["cls"], options)))})


def _classes(spec):
    """Every layer class a spec builds, nested cells and wrapped layers included."""
    cls, options = spec
    found = {cls}
    for key, value in options.items():
        if key in ("cell", "layer") and isinstance(value, tuple):
            found |= _classes(value)
        elif key == "cells":
            for cell in value:
                found |= _classes(cell)
    return found


def make(keras, spec):
    """('LSTM', {...}) -> a layer; nested specs (a cell, a wrapped layer) made first."""
    cls, options = spec
    options = {k: (make(keras, v) if isinstance(v, tuple) and v and isinstance(v[0], str)
                   and hasattr(keras.layers, v[0]) and k in ("cell", "layer") else
                   [make(keras, c) for c in v] if k == "cells" else v)
               for k, v in options.items()}
    if options.get("function") == "double":
        options["function"] = lambda x: x * 2.0
    return getattr(keras.layers, cls)(**options)


def _model(keras, cls, options, shapes, before, after, stateful, dense_first=False):
    """The layer under test between its inputs and `after`; a layer without weights gets a
    Dense on each input first (named pre_<i>), so that its backward pass is compared too."""
    L = keras.layers
    inputs = [L.Input(batch_shape=(2,) + s) if stateful else L.Input(shape=s) for s in shapes]
    x = [L.Dense(s[-1], name=f"pre_{i}")(t) for i, (s, t) in enumerate(zip(shapes, inputs))] \
        if dense_first else inputs
    x = x[0] if len(x) == 1 else x
    for spec in before:
        x = make(keras, spec)(x)
    x = make(keras, (cls, options))(x)
    for spec in after:
        x = make(keras, spec)(x)
    model = keras.models.Model(inputs, x)
    if not dense_first and not model.trainable_weights and not ints(inputs):
        return _model(keras, cls, options, shapes, before, after, stateful, dense_first=True)
    return model


def ints(inputs):
    return any("int" in str(getattr(t, "dtype", "float32")) for t in inputs)
