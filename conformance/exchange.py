"""The files a case crosses between the two environments in, one folder per case.

Going to the reference: model.h5 (keras-mxnet's save, in Keras's layout: layout.py),
train.h5 (for a model with training-time randomness: the same model with each random layer
a LeakyReLU(alpha=1.0) under the same name, exactly the identity with gradient 1 on both sides,
so that both train the same deterministic function; a plain identity would do in Keras, but
keras-mxnet cannot build a layer that returns its input as it is (Dropout(0.0),
Activation('linear'): it evaluates the copy it makes of it with an unknown batch size), and
cannot train a GaussianNoise at all; and each recurrent layer's or cell's dropout and
recurrent_dropout 0, as their masks are drawn by two generators too), data.npz (inputs
x0.., targets y0..) and case.json (the loss, the optimizers' settings, the case's name).
Coming back: reference.npz, `pred/i`, `loss`, `grad/<layer>#<i>`, `sgd/<layer>#<i>`,
`adam/<layer>#<i>` (Keras's layout; i counts the layer's weights, trainable first, as both
Kerases order them), or reference.json with `cannot` (why tf.keras cannot run the case).
Plain numpy, json and h5py: both environments import this module.
"""
import json
import os
import re

import numpy as np

RANDOM_OPTIONS = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                  "AlphaDropout", "GaussianDropout", "GaussianNoise"}
# A recurrent layer's or cell's own random masks (LSTM, GRU, SimpleRNN, ConvLSTM2D, their cells)
RECURRENT_DROPOUT = ("dropout", "recurrent_dropout")
LAYERS_AS_IDENTITY = "random layers as LeakyReLU(alpha=1.0), the identity"
NO_RECURRENT_DROPOUT = "recurrent layers' dropout and recurrent_dropout 0"


def folder_name(case_name):
    """A file-system name for a case: its name's safe characters and a checksum."""
    import zlib

    safe = re.sub(r"[^A-Za-z0-9_.=+-]", "_", case_name)[:80]
    return f"{safe}-{zlib.crc32(case_name.encode('utf8')):08x}"


def write_data(folder, x, y):
    np.savez(os.path.join(folder, "data.npz"),
             **{f"x{i}": a for i, a in enumerate(x)}, **{f"y{i}": a for i, a in enumerate(y)})


def read_data(folder):
    with np.load(os.path.join(folder, "data.npz")) as f:
        x = [f[f"x{i}"] for i in range(sum(k.startswith("x") for k in f.files))]
        y = [f[f"y{i}"] for i in range(sum(k.startswith("y") for k in f.files))]
    return x, y


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def derandomized(model_config):
    """A saved model's config with every training-time random layer the identity
    (LeakyReLU(alpha=1.0), of the same name), wrapped layers included, and every recurrent
    layer's or cell's dropout and recurrent_dropout 0; (config, how many layers changed,
    in training: what was changed, in words; '' where nothing was)."""
    changed, kinds = 0, []

    def walk(node):
        nonlocal changed
        if isinstance(node, dict):
            if node.get("class_name") in RANDOM_OPTIONS and "name" in node.get("config", {}):
                old = node["config"]
                node["class_name"] = "LeakyReLU"
                node["config"] = {"name": old["name"], "trainable": old.get("trainable", True),
                                  "alpha": 1.0}
                changed += 1
                kinds.append(LAYERS_AS_IDENTITY)
            config = node.get("config")
            if isinstance(config, dict) and "recurrent_dropout" in config and \
                    any(config.get(k) for k in RECURRENT_DROPOUT):
                config.update({k: 0.0 for k in RECURRENT_DROPOUT if k in config})
                changed += 1
                kinds.append(NO_RECURRENT_DROPOUT)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(model_config)
    described = ", ".join(k for k in (LAYERS_AS_IDENTITY, NO_RECURRENT_DROPOUT) if k in kinds)
    return model_config, changed, described + ", in training" if described else ""


def write_derandomized(source, target):
    """A copy of the h5 model `source` without training-time randomness (its weights as they
    are: the layers replaced have none, a recurrent layer keeps its own); what was changed, in
    words, or '' if it has none."""
    import shutil

    import h5py

    with h5py.File(source, "r") as f:
        config, changed, described = derandomized(json.loads(_text(f.attrs["model_config"])))
    if not changed:
        return ""
    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as f:
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
    return described


def h5_weights(path):
    """{layer name: [values in saved order]} of a saved model."""
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        return {name: [group[name][_text(w)][()] for w in group[name].attrs["weight_names"]]
                for name in (_text(n) for n in group.attrs["layer_names"])}


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)
