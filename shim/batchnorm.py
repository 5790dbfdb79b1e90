"""keras-mxnet's BatchNormalization made to compute Keras's function (applied by shim.keras_mxnet).

What keras-mxnet 2.2.4.3 did, and what Keras (the reference: tf.keras of TensorFlow 2.15, Keras 2)
computes instead:
- Gamma: keras-mxnet called MXNet's `BatchNorm` without `fix_gamma=False`. MXNet's default fixes
  gamma at 1 (batch_norm.cc: the output is (x - mean) * invstd + beta, and gamma's gradient is
  written 0), so gamma was neither applied nor learned: gamma 2, beta 1, mean 1, variance 4
  predicted (x - 1) / 2 + 1 instead of 2 (x - 1) / 2 + 1, and a model trained elsewhere loaded
  and predicted wrongly. Now `fix_gamma=False` where the layer has a scale.
- `scale=False` / `center=False`: keras-mxnet still made a gamma (trainable) and a beta weight,
  so the layer had 4 weights where Keras has 3 or 2, and h5 files did not load across. The
  layer now has Keras's weights; the missing factor and offset are constants 1 and 0.
- The axis: with `image_data_format() == 'channels_first'` keras-mxnet turned the default
  axis -1 into 1, normalizing another axis than Keras does (a (batch, steps, features) input
  was normalized over its steps) and saving axis 1 in the config. The axis is now the one given.
- The moving variance: MXNet's op updates it in its backward pass as
  moving * momentum + var * (1 - momentum) with the batch's *biased* variance (sum / n, from
  its inverse std: batch_norm.cc, mkldnn_batch_norm-inl.h), the same momentum convention as
  Keras's. tf.keras does the same except where it uses TensorFlow's fused kernel, a 4-D input
  normalized over axis 1 or 3 or a 5-D one over axis 1 or 4, whose batch variance carries
  Bessel's correction n / (n - 1) (n: the elements per channel; 1 when n is 1). (Keras 2.2.4 on
  TensorFlow 1 applied n / (n - 1 - epsilon) on top of the fused kernel's correction; the
  reference is followed, not that double correction.) Also, MXNet skips the op's backward pass,
  and with it both updates, where nothing before the layer nor the layer itself has a trainable
  weight (a BatchNormalization(center=False, scale=False) on a model's input): its moving
  statistics never moved. Now the training graph computes Keras's updates of both from the op's
  batch mean and inverse std, and they are written over MXNet's after each step (Keras state
  updates, applied as fit() applies them; keras-graph, which trains graphs without state
  updates, refuses such a model in one line).
- `training=False` / `training=True` when calling the layer: keras-mxnet ignored the argument.
  False now normalizes with the moving statistics in both phases (and updates nothing); True
  normalizes with the batch's statistics in both phases.
Kept from keras-mxnet: `trainable=False` normalizes with the moving statistics (as tf.keras
does; Keras 2.2.4 used the batch's), and epsilon is MXNet's `eps`, added to the variance as
Keras does.
"""
import mxnet as mx

from shim import mxnet_backend as backend_module


def corrects_variance(ndim, axis):
    """Whether tf.keras updates the moving variance with the unbiased batch variance: where it
    runs TensorFlow's fused batch norm (measured with tensorflow-cpu 2.15.1: the other inputs
    get the biased one)."""
    return (ndim, axis) in ((4, 1), (4, 3), (5, 1), (5, 4))


def patch(keras):
    layer = keras.layers.BatchNormalization
    if getattr(layer.call, "_shim", False):
        return
    stock_init = layer.__init__

    def __init__(self, *args, **kwargs):
        stock_init(self, *args, **kwargs)
        axis = kwargs.get("axis", args[0] if args else -1)
        self.axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis

    def build(self, input_shape):
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension "
                             f"but the layer received an input with shape {input_shape}.")
        self.input_spec = keras.engine.InputSpec(ndim=len(input_shape), axes={self.axis: dim})
        shape = (dim,)
        self.gamma = self.add_weight(
            shape=shape, name="gamma", initializer=self.gamma_initializer,
            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint
        ) if self.scale else None
        self.beta = self.add_weight(
            shape=shape, name="beta", initializer=self.beta_initializer,
            regularizer=self.beta_regularizer, constraint=self.beta_constraint
        ) if self.center else None
        self.moving_mean = self.add_weight(shape=shape, name="moving_mean",
                                           initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight(shape=shape, name="moving_variance",
                                               initializer=self.moving_variance_initializer,
                                               trainable=False)
        self.built = True

    def call(self, inputs, training=None):
        ndim = len(inputs._keras_shape)
        axis = self.axis % ndim
        mode = "global" if training in (0, False) or not self.trainable else \
            "batch" if training in (1, True) else "phase"
        output, mean, variance = batch_norm(
            inputs, self.gamma, self.beta, self.moving_mean, self.moving_variance, axis=axis,
            momentum=self.momentum, epsilon=self.epsilon, dim=inputs._keras_shape[axis],
            mode=mode, bessel=corrects_variance(ndim, axis))
        if mode != "global":
            self.add_update([(self.moving_mean, mean), (self.moving_variance, variance)], inputs)
        if mode == "phase":
            output._uses_learning_phase = True
        return output

    call._shim = True
    layer.__init__ = __init__
    layer.build = build
    layer.call = call


def _symbol(x):
    return x.symbol if x is not None else None


def batch_norm(x, gamma, beta, moving_mean, moving_variance, axis, momentum, epsilon, dim, mode,
               bessel):
    """(output, the moving mean's update, the moving variance's) of a BatchNormalization on the
    KerasSymbol x; bessel: whether Keras's moving variance takes the unbiased batch variance.

    mode: 'phase' (batch statistics in the training graph, moving ones in the inference graph),
    'global' (moving statistics in both, no update) or
    'batch' (batch statistics in both graphs, in plain operators: MXNet's op uses them only in a
    training pass, and an uncompiled model predicts with its training graph)."""
    K = backend_module()
    ndim = len(x._keras_shape)
    neighbors = [v for v in (x, gamma, beta, moving_mean, moving_variance) if v is not None]
    # The layer's own dtype (floatx when it was built) for the arrays made here: a float32
    # count or constant beside float64 data failed to bind (conformance's float64 judgement).
    dtype = K.dtype(moving_mean)

    def count(data):  # elements per channel, known when the batch is
        return mx.sym.prod(mx.sym.cast(mx.sym.shape_array(data), dtype)) / dim

    def moving(old, batch):
        return old * momentum + batch * (1 - momentum)

    @K.keras_mxnet_symbol
    def normalize(*_neighbors):
        data, mean, var = x.symbol, moving_mean.symbol, moving_variance.symbol
        # No scale: gamma is fixed at 1 (MXNet ignores the input); no offset: a constant 0.
        scale = _symbol(gamma) if gamma is not None else mx.sym.ones(shape=(dim,), dtype=dtype)
        offset = _symbol(beta) if beta is not None else mx.sym.zeros(shape=(dim,), dtype=dtype)
        if mode == "batch":
            output, batch_mean, batch_var = _normalize_by_batch(data, scale, offset, axis, ndim,
                                                                epsilon)
        else:
            outputs = mx.sym.BatchNorm(data, scale, offset, mean, var, eps=epsilon,
                                       momentum=momentum, axis=axis, fix_gamma=gamma is None,
                                       use_global_stats=mode == "global", output_mean_var=True)
            # Its second and third outputs: the batch's mean and inverse std, 1 / sqrt(var + eps).
            output, batch_mean = outputs[0], outputs[1]
            batch_var = mx.sym.reciprocal(mx.sym.square(outputs[2])) - epsilon
        if mode == "global" or not (K.learning_phase() or mode == "batch"):
            return K.KerasSymbol(output), K.KerasSymbol(mean), K.KerasSymbol(var)
        if bessel:   # n / (n - 1), and 1 where n is 1 (as TensorFlow's kernel)
            n = count(data)
            batch_var = mx.sym.broadcast_mul(batch_var, n / mx.sym.maximum(n - 1, 1))
        return (K.KerasSymbol(output), K.KerasSymbol(moving(mean, batch_mean)),
                K.KerasSymbol(moving(var, batch_var)))

    return normalize(*neighbors)


def _normalize_by_batch(data, scale, offset, axis, ndim, epsilon):
    """Keras's normalization by the batch's (biased) statistics, in plain operators; with the
    batch's mean and variance per channel."""
    axes = tuple(i for i in range(ndim) if i != axis)
    mean = mx.sym.mean(data, axis=axes, keepdims=True)
    centered = mx.sym.broadcast_sub(data, mean)
    variance = mx.sym.mean(mx.sym.square(centered), axis=axes, keepdims=True)
    shape = tuple(-1 if i == axis else 1 for i in range(ndim))
    normed = mx.sym.broadcast_div(centered, mx.sym.sqrt(variance + epsilon))
    output = mx.sym.broadcast_add(mx.sym.broadcast_mul(normed, mx.sym.reshape(scale, shape=shape)),
                                  mx.sym.reshape(offset, shape=shape))
    return output, mx.sym.reshape(mean, shape=(-1,)), mx.sym.reshape(variance, shape=(-1,))
