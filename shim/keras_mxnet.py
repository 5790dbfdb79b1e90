"""keras-mxnet 2.2.4.3 on Python 3.11: `from shim.keras_mxnet import keras`.

Nothing on disk is patched: every fix is applied in memory when this module is imported,
before or right after keras itself is imported. Import keras only through here.

What is fixed, and why (each is a break between keras-mxnet 2.2.4.3 and Python 3.11 or the
libraries it pins against):
- `collections.Iterable` and friends were removed in Python 3.10; keras/callbacks.py imports
  them (restored by `import shim`).
- PyYAML 6 made `yaml.load` require a Loader; keras's `model_from_yaml` calls it without one.
- h5py 3 returns `str` for string attributes where keras expects `bytes` and calls `.decode`.
- Lambda layers serialize their function with `marshal`: that works unpatched on 3.11 (tested),
  but only for models saved by the same Python minor version, as marshal's format is per version.
- keras-mxnet lays convolution kernels out channels-first but computes Glorot's fans for a
  channels-last kernel, so its convolutions started with the wrong scale.
- keras-mxnet infers a Lambda's output shape with batch size 0 instead of None.
- keras-mxnet maps every 'cpu...' context to cpu(0), so `context=['cpu(0)', 'cpu(1)']` ran two
  executors on the same context while Gluon ran on two; here 'cpu(i)' means cpu(i).
- keras-mxnet data-parallel training sums per-device *mean* gradients, so with N contexts the
  gradient (and SGD's step) was N times the mean over the global batch; the optimizer's
  rescale_grad is set to 1/N so Keras trains on the mean over the global batch, as Gluon does.
- MXNet's parameter server (kvstore 'dist_sync', see distributed.py) with Keras: keras-mxnet
  ignores `compile(kvstore=...)` (only Model(..., kvstore=) set it), so compile now honours it;
  with a dist kvstore MXNet runs the optimizer on the servers and pickles it to them, which
  failed ("Can't pickle local object 'get_optimizers.<locals>.SGD'": keras-mxnet defines its
  optimizer classes inside a function). A dist kvstore is now sent, instead, the MXNet optimizer
  the keras-mxnet one extends, with the same state and the current learning rate: the update is
  MXNet's own code either way, as keras-mxnet only overrides the learning rate's decay, which is
  refused unless 0 (and later changes of the Keras lr don't reach the servers). Module's
  `init_optimizer` broadcasts rank 0's initial weights on a dist kvstore, and rescale_grad
  becomes 1/(contexts x workers) for dist_sync, since the servers sum every worker's gradients.
- keras/__init__.py sets `warnings.simplefilter('always', DeprecationWarning)`, which repeats
  every deprecation warning per layer; its end-of-life notice is shown once and the filters
  are restored.
"""
import os
import warnings

import shim

# The backend is chosen before keras reads its config file. Nothing else of Keras's
# configuration is touched: layouts are asked for per layer (keras_models/).
os.environ["KERAS_BACKEND"] = "mxnet"

def _patch_yaml():
    import yaml

    if getattr(yaml.load, "_shim", False):
        return
    original_load = yaml.load

    class KerasConfigLoader(yaml.SafeLoader):
        """The safe loader plus the one Python tag that keras's `to_yaml` writes: tuples."""

    KerasConfigLoader.add_constructor(
        "tag:yaml.org,2002:python/tuple",
        lambda loader, node: tuple(loader.construct_sequence(node)))

    def load(stream, Loader=None):
        return original_load(stream, Loader=Loader or KerasConfigLoader)

    load._shim = True
    yaml.load = load


def _patch_h5py():
    """h5py 3 decodes string attributes to str; keras 2.2.4 calls .decode('utf8') on them."""
    import h5py
    import numpy as np

    attrs_cls = h5py._hl.attrs.AttributeManager
    if getattr(attrs_cls.__getitem__, "_shim", False):
        return
    original_getitem = attrs_cls.__getitem__

    def to_bytes(value):
        # h5py 2 gave bytes and fixed-width byte-string arrays; keras tests for exactly those.
        if isinstance(value, str):
            return value.encode("utf8")
        if isinstance(value, np.ndarray) and value.dtype == object:
            return np.array([v.encode("utf8") if isinstance(v, str) else v for v in value.tolist()],
                            dtype=np.bytes_)
        return value

    def getitem(self, name):
        return to_bytes(original_getitem(self, name))

    getitem._shim = True
    attrs_cls.__getitem__ = getitem


def _as_mxnet(optimizer):
    """The MXNet optimizer a keras-mxnet optimizer extends, with the same state: what a dist
    kvstore can pickle to its servers (keras-mxnet's classes are local to a function)."""
    import mxnet as mx

    base = next(c for c in type(optimizer).__mro__
                if c.__module__.startswith("mxnet.optimizer") and c is not mx.optimizer.Optimizer)
    decay = float(optimizer.decay.tensor.asscalar())
    if decay:
        raise ValueError(f"keras {type(optimizer).__name__}(decay={decay:g}) can't run on a dist "
                         f"kvstore's servers: MXNet's {base.__name__} has no Keras-style decay; "
                         f"use decay=0")
    state = {k: v for k, v in optimizer.__getstate__().items()
             if k not in ("decay", "updates", "weights", "_keras_model")}
    state["lr"] = float(optimizer.lr.tensor.asscalar())
    plain = base.__new__(base)
    plain.__setstate__(state)
    return plain


def _patch_keras(keras):
    from keras.backend import mxnet_backend
    import mxnet as mx

    # A Lambda's output shape is inferred by running it on a placeholder; MXNet reports the
    # unknown batch dimension as 0, and the next layer then rejects (0, n) against (None, n).
    lambda_output_shape = keras.layers.Lambda.compute_output_shape

    def compute_output_shape(self, input_shape):
        batch = (input_shape[0] if isinstance(input_shape, list) else input_shape)[0]

        def fix(shape):
            return (batch,) + tuple(shape[1:]) if shape and shape[0] == 0 else shape

        shape = lambda_output_shape(self, input_shape)
        return [fix(s) for s in shape] if isinstance(shape, list) else fix(shape)

    keras.layers.Lambda.compute_output_shape = compute_output_shape

    original_get_context = mxnet_backend._get_mxnet_context

    def get_mxnet_context(context):
        # keras-mxnet turns any 'cpu...' entry of a list into cpu(0); honour the index.
        if isinstance(context, (list, tuple)) and any(
            isinstance(c, str) and c.startswith("cpu(") for c in context
        ):
            if mxnet_backend._CURRENT_SCOPE_CTX:
                return mxnet_backend._CURRENT_SCOPE_CTX
            return [
                mx.cpu(int(c[4:-1])) if isinstance(c, str) and c.startswith("cpu(")
                else original_get_context([c])[0]
                for c in context
            ]
        return original_get_context(context)

    mxnet_backend._get_mxnet_context = get_mxnet_context

    # keras-mxnet stores channels_first convolution kernels as (out, in, *kernel), but Keras's
    # initializers compute Glorot's fans as if every kernel were (*kernel, in, out): LeNet's
    # first convolution drew from +-0.173 instead of +-0.107. Build such layers with the fans
    # of the layout they actually have.
    initializers = keras.initializers
    compute_fans = initializers._compute_fans
    conv_build = keras.layers.convolutional._Conv.build
    kernel_layout = []

    def fans(shape, data_format=None):
        return compute_fans(shape, data_format or (kernel_layout[-1] if kernel_layout
                                                   else "channels_last"))

    def build(self, input_shape):
        kernel_layout.append(self.data_format)
        try:
            conv_build(self, input_shape)
        finally:
            kernel_layout.pop()

    initializers._compute_fans = fans
    keras.layers.convolutional._Conv.build = build

    # Normalize the summed per-device gradients to the mean over the global batch (with
    # dist_sync, the servers also sum over the workers).
    model_cls = keras.models.Model
    module_init_optimizer = mx.mod.BucketingModule.init_optimizer

    def init_optimizer(self, kvstore="local", optimizer="sgd", optimizer_params=(("learning_rate", 0.01),),
                       force_init=False):
        if isinstance(optimizer, mx.optimizer.Optimizer) and getattr(optimizer, "_keras_model", False):
            if isinstance(kvstore, str) and kvstore.startswith("dist"):
                kvstore = mx.kv.create(kvstore)  # joins the group; tells the number of workers
            workers = 1
            if isinstance(kvstore, mx.kv.KVStore) and "dist" in kvstore.type and "_sync" in kvstore.type:
                workers = kvstore.num_workers
            optimizer.rescale_grad = 1.0 / (len(self._context) * workers)
        return module_init_optimizer(self, kvstore, optimizer, optimizer_params, force_init)

    mx.mod.BucketingModule.init_optimizer = init_optimizer
    original_compile = model_cls.compile

    def compile(self, optimizer, *args, **kwargs):
        kvstore = kwargs.pop("kvstore", None)
        original_compile(self, optimizer, *args, **kwargs)
        if kvstore is not None:
            self._kvstore = kvstore
        if isinstance(self.optimizer, mx.optimizer.Optimizer):
            self.optimizer._keras_model = True

    model_cls.compile = compile
    kvstore_set_optimizer = mx.kv.KVStore.set_optimizer

    def set_optimizer(self, optimizer):
        if getattr(optimizer, "_keras_model", False) and "dist" in self.type:
            optimizer = _as_mxnet(optimizer)  # pickled to the servers, which have no keras
        return kvstore_set_optimizer(self, optimizer)

    mx.kv.KVStore.set_optimizer = set_optimizer


def _import_keras():
    shim.import_mxnet()
    _patch_yaml()
    _patch_h5py()
    with warnings.catch_warnings(record=True) as caught:
        # keras/__init__.py sets an 'always' filter for DeprecationWarning, then warns of its
        # end of life: record that warning, drop the filter, and show the warning once.
        warnings.simplefilter("always")
        import keras
    for w in caught:
        if "discontinued" in str(w.message):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    _patch_keras(keras)
    return keras


keras = _import_keras()
