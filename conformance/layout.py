"""keras-mxnet's weight layouts against Keras's: the one place where they are converted.

keras-mxnet 2.2.4.3 stores some weights differently from Keras 2 (read from its
keras/layers/convolutional.py and normalization.py, `K.backend() == 'mxnet'` branches):
- channels_first convolution kernels are laid out channel-first: a Conv/ConvTranspose kernel
  as (out, in, *kernel) / (in, filters, *kernel) where Keras has (*kernel, in, out) /
  (*kernel, filters, in); a depthwise kernel as (in, multiplier, *kernel) where Keras has
  (*kernel, in, multiplier); a pointwise kernel as (filters, in x multiplier, 1...);
- BatchNormalization(scale=False) still has a gamma (ones) and BatchNormalization(center=False)
  a beta (zeros, not trainable): weights Keras does not have.
Its h5 files hold its own layout, so Keras on TensorFlow cannot load them as they are.

Plain numpy and h5py: both environments import this module (the reference one has no mxnet).
"""
import json

import numpy as np

# class name -> {weight's short name: how the axes after the kernel's are ordered}
# 'last2-out-in': (a, b, *kernel) -> (*kernel, b, a); 'last2-in-mult': (a, b, *k) -> (*k, a, b)
_KERNELS = {
    "Conv1D": {"kernel": "swap"}, "Conv2D": {"kernel": "swap"}, "Conv3D": {"kernel": "swap"},
    "Conv2DTranspose": {"kernel": "swap"}, "Conv3DTranspose": {"kernel": "swap"},
    "SeparableConv1D": {"depthwise_kernel": "keep", "pointwise_kernel": "swap"},
    "SeparableConv2D": {"depthwise_kernel": "keep", "pointwise_kernel": "swap"},
    "DepthwiseConv2D": {"depthwise_kernel": "keep"},
}


def short_name(weight_name):
    """'conv2d_1/kernel1' or 'conv2d_1/kernel:0' -> 'kernel' (keras-mxnet appends a counter)."""
    last = weight_name.split("/")[-1].split(":")[0]
    return last.rstrip("0123456789") or last


def axes(class_name, config, weight_name):
    """The transpose that takes this weight from keras-mxnet's layout to Keras's, or None."""
    if config.get("data_format") != "channels_first":
        return None
    how = _KERNELS.get(class_name, {}).get(short_name(weight_name))
    if how is None:
        return None
    return ("swap", "keep").index(how)   # 0: (a, b) -> (b, a) at the end; 1: kept in order


def to_keras(class_name, config, weight_name, value):
    rule = axes(class_name, config, weight_name)
    if rule is None:
        return value
    spatial = list(range(2, value.ndim))
    return np.transpose(value, spatial + ([1, 0] if rule == 0 else [0, 1]))


def to_mxnet(class_name, config, weight_name, value):
    """The inverse of to_keras."""
    rule = axes(class_name, config, weight_name)
    if rule is None:
        return value
    n = value.ndim
    lead = [n - 1, n - 2] if rule == 0 else [n - 2, n - 1]
    return np.transpose(value, lead + list(range(n - 2)))


def mxnet_only(class_name, config, weight_name):
    """True for a weight keras-mxnet adds that Keras does not have."""
    if class_name != "BatchNormalization":
        return False
    name = short_name(weight_name)
    return (name == "gamma" and not config.get("scale", True)) or \
        (name == "beta" and not config.get("center", True))


def layers(model_config):
    """(layer name, class name, config) of every layer in a saved model's config, a wrapped
    layer's (TimeDistributed, Bidirectional) config standing for the wrapper's."""
    found = []
    for layer in model_config["config"]["layers"] if isinstance(
            model_config["config"], dict) else model_config["config"]:
        inner = layer["config"].get("layer")
        class_name, config = (inner["class_name"], inner["config"]) if inner else \
            (layer["class_name"], layer["config"])
        found.append((layer["config"]["name"], class_name, config))
    return found


def convert_h5(source, target):
    """Copy keras-mxnet's saved model `source` to `target` in Keras's layout."""
    import shutil

    import h5py

    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as f:
        config = json.loads(_text(f.attrs["model_config"]))
        group = f["model_weights"]
        for name, class_name, layer_config in layers(config):
            if name not in group:
                continue
            g = group[name]
            names = [_text(n) for n in g.attrs["weight_names"]]
            kept = []
            for weight_name in names:
                value = g[weight_name][()]
                del g[weight_name]
                if mxnet_only(class_name, layer_config, weight_name):
                    continue
                g[weight_name] = to_keras(class_name, layer_config, weight_name, value)
                kept.append(weight_name.encode("utf8"))
            g.attrs["weight_names"] = np.array(kept, dtype="S") if kept else np.zeros(0, "S1")
        f.attrs["backend"] = b"tensorflow"


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)
