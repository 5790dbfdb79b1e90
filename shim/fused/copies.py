"""The copies fix: host arrays into MXNet off the Python thread (shim/fused/__init__.py lists
why, shim/arrays.py how)."""
import types

from shim import fused


def copies(keras):
    import numpy as np

    from keras.backend import mxnet_backend as K
    from shim import arrays

    stock_variable = K.variable
    model = keras.models.Model
    stock_compile = model.compile

    def variable(value, dtype=None, name=None, constraint=None, sparse_weight=False):
        if sparse_weight or hasattr(value, "tocoo"):
            pass
        elif isinstance(value, K.KerasSymbol) and arrays.copied_in_parallel(
                int(np.prod(value.shape))):
            # An initializer's draw: stock evaluates it to numpy (a copy to the host) and
            # back. The same executor, bound here so that it draws the same numbers, hands
            # its output to MXNet directly.
            value = K._forward_pass(value)[0]
        elif isinstance(value, np.ndarray) and arrays.copied_in_parallel(value.size):
            value = arrays.ndarray(value, dtype=K._convert_string_dtype(dtype or K.floatx()))
        return stock_variable(value, dtype, name, constraint, sparse_weight)

    def adjust_module(self, inputs, phase):
        # fit/predict's batches: keras-mxnet makes each an MXNet array on the Python thread.
        specs = list(self.inputs) + list(self.targets) + list(self.sample_weights)
        inputs = [arrays.ndarray(x, dtype=spec.dtype)
                  if spec is not None and isinstance(x, np.ndarray)
                  and arrays.copied_in_parallel(x.size) else x
                  for x, spec in zip(inputs, specs + [None] * (len(inputs) - len(specs)))]
        return type(self)._adjust_module(self, inputs, phase)

    def compile(self, *args, **kwargs):
        stock_compile(self, *args, **kwargs)
        # A model compiled with the fix keeps it for its life, as the other fixes' graphs do.
        self._adjust_module = types.MethodType(adjust_module, self)

    return fused.undo_all([fused.patch(K, "variable", variable),
                           fused.patch(keras.backend, "variable", variable),
                           fused.patch(model, "compile", compile)])
