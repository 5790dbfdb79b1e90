"""A layer that returns its input unchanged builds (applied by shim.keras_mxnet).

Keras's `Layer.__call__` copies an output that is one of the layer's inputs with `K.identity`,
so that the output gets its own Keras metadata: Activation('linear'), ActivityRegularization,
Dropout(0)... keras-mxnet's `K.identity` evaluates its argument and binds the value to a new
variable, which works for a variable but not for a tensor of the model's graph: evaluating it
needs the model's inputs, and MXNet refused ("InferShape pass cannot decide shapes ...
/input_1: [-1,5]"), so no such layer could be built. TensorFlow's identity is an op of the graph;
now, for a tensor without a value of its own, so is this one (MXNet's `identity`, whose gradient
is the identity). A variable (a tensor with a bound value) is copied as before.
"""

from shim import mxnet_backend as backend_module


def patch(keras):
    K = backend_module()
    if getattr(K.identity, "_shim", False):
        return
    import mxnet as mx

    stock_identity = K.identity

    @K.keras_mxnet_symbol   # traced once per learning phase, as keras-mxnet's ops are
    def symbolic(x):
        return K.KerasSymbol(mx.sym.identity(x.symbol))

    def identity(x):
        if isinstance(x, K.KerasSymbol) and getattr(x, "tensor", None) is None:
            return symbolic(x)
        return stock_identity(x)

    identity._shim = True
    for namespace in (K, keras.backend):
        namespace.identity = identity
