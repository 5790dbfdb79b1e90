"""keras-mxnet's random tensors shaped like a tensor, and its dropout's noise_shape (applied by
shim.keras_mxnet).

- `K.shape(x)` is Keras's symbolic shape; keras-mxnet's is the static tuple, with None (MXNet: 0)
  for the batch. Keras's noise layers draw `K.random_normal(K.shape(inputs))` and
  `K.random_uniform(K.shape(inputs))`: MXNet cannot make a random tensor of an unknown shape, so
  GaussianNoise, GaussianDropout and AlphaDropout could not be built at all ("InferShape pass
  cannot decide shapes"). `K.shape(x)` now remembers x, and a random tensor of a shape with an
  unknown dimension that is some tensor's shape is drawn like that tensor (`normal_like`,
  `uniform_like`); any other unknown shape is refused at build in one line.
- `K.in_train_phase(x, alt)` picked its branch once, in the learning phase current when the
  layer was called (1, outside compile), and that branch went into the inference graph too: a
  GaussianNoise (or any layer choosing by phase, rather than through an MXNet op that knows
  is_train, as Dropout) kept adding its noise in predict and evaluate. It now picks per phase's
  trace, as keras-mxnet's graph functions do.
- `K.dropout(x, level, noise_shape)` ignored noise_shape: SpatialDropout1D/2D/3D and
  Dropout(noise_shape=...) dropped single elements instead of whole channels (or steps) in
  training, a different function with no error. A noise_shape of 1 on some axes now shares the
  mask along them (MXNet's Dropout `axes`); one that is neither 1 nor the tensor's size there
  (where that size is known) is refused at build.
"""

from shim import mxnet_backend as backend_module


class Shape(tuple):
    """K.shape(x): the static shape, which also knows its tensor."""
    tensor = None


def patch(keras):
    K = backend_module()
    if getattr(K.shape, "_shim", False):
        return
    import mxnet as mx

    stock_shape = K.shape

    def shape(x):
        static = stock_shape(x)
        if static is None:
            return None
        result = Shape(static)
        result.tensor = x
        return result

    shape._shim = True

    def like(shape, what):
        """The tensor to draw a random tensor of `shape` like, or None if it is known."""
        dims = tuple(shape)
        if all(dims):
            return None
        tensor = getattr(shape, "tensor", None)
        if tensor is None or tuple(K.int_shape(tensor) or ()) != dims:
            raise ValueError(f"MXNet backend: K.{what} can't draw a tensor of shape {dims} with "
                             f"an unknown dimension; pass K.shape(x) of the tensor it should be "
                             f"shaped like, or a shape with every dimension known.")
        return tensor

    def dtype_of(dtype):
        return K._convert_string_dtype(dtype or K.floatx())

    stock_normal, stock_uniform, stock_binomial = K.random_normal, K.random_uniform, \
        K.random_binomial

    def drawn_like(shape, what, stock, draw):
        """stock() where the shape is known; else draw(symbol of the tensor to be shaped like)."""
        tensor = like(shape, what)
        if tensor is None:
            return stock()
        return K.keras_mxnet_symbol(lambda t: K.KerasSymbol(draw(t.symbol)))(tensor)

    def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return drawn_like(shape, "random_normal", lambda: stock_normal(
            shape, mean, stddev, dtype, seed), lambda s: mx.sym.random.normal_like(
            mx.sym.cast(s, dtype_of(dtype)), loc=mean, scale=stddev))

    def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        return drawn_like(shape, "random_uniform", lambda: stock_uniform(
            shape, minval, maxval, dtype, seed), lambda s: mx.sym.random.uniform_like(
            mx.sym.cast(s, dtype_of(dtype)), low=minval, high=maxval))

    def random_binomial(shape, p=0.0, dtype=None, seed=None):
        return drawn_like(shape, "random_binomial", lambda: stock_binomial(
            shape, p, dtype, seed), lambda s: mx.sym.cast(mx.sym.random.uniform_like(
                mx.sym.cast(s, "float32")) < p, dtype_of(dtype)))

    stock_dropout = K.dropout

    def dropout(x, level, noise_shape=None, seed=None):
        if noise_shape is None:
            return stock_dropout(x, level, seed=seed)
        dims = tuple(K.int_shape(x))
        noise = tuple(noise_shape)
        if len(noise) != len(dims) or any(
                n not in (1, None, d) and d is not None for n, d in zip(noise, dims)):
            raise ValueError(f"MXNet backend: dropout's noise_shape {noise} must be 1 or the "
                             f"input's size on each axis (input {dims}); MXNet shares a mask "
                             f"only along whole axes.")
        axes = tuple(i for i, (n, d) in enumerate(zip(noise, dims)) if n == 1 and d != 1)
        if not axes:
            return stock_dropout(x, level, seed=seed)
        if not 0 <= level <= 1:
            raise ValueError(f"MXNet Backend: Invalid level provided for dropout `{level}`. "
                             "Expected between 0 and 1.")
        return K.keras_mxnet_symbol(lambda t: K.KerasSymbol(mx.sym.Dropout(
            data=t.symbol, p=level, axes=axes, name=K._prepare_name(None, "dropout"))))(x)

    stock_in_train_phase = K.in_train_phase

    @K.keras_mxnet_symbol
    def in_train_phase(x, alt, training=None):
        chosen = stock_in_train_phase(x, alt, training)
        if not isinstance(chosen, K.KerasSymbol):
            return chosen
        # A fresh wrapper: the decorator writes the inference trace's symbol into the training
        # trace's result, which must not be a tensor that already exists (x or alt itself).
        result = K.KerasSymbol(chosen.symbol, neighbors=[chosen])
        result._uses_learning_phase = getattr(chosen, "_uses_learning_phase", False)
        return result

    for namespace in (K, keras.backend):
        namespace.in_train_phase = in_train_phase
        namespace.shape = shape
        namespace.random_normal = random_normal
        namespace.random_uniform = random_uniform
        namespace.random_binomial = random_binomial
        namespace.dropout = dropout
