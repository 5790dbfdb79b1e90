"""Binary cross-entropy computed as Keras computes it (applied by shim.keras_mxnet).

keras-mxnet's K.binary_crossentropy clipped the output to [eps, 1 - eps] and took
-(t log(p) + (1 - t) log(1 - p)). Keras (tf.keras 2.15, the reference) clips alike but takes
-(t log(p + eps) + (1 - t) log(1 - p + eps)): the same wherever p is well inside (0, 1), but
log(2 eps) instead of log(eps) (0.69 apart) wherever p reaches the clip, e.g. a tanh output
below eps (conformance's examples.mnist_acgan.generator: its loss off by 0.18). With
from_logits=True Keras takes TensorFlow's sigmoid_cross_entropy_with_logits, unclipped:
max(x, 0) - x t + log(1 + exp(-|x|)); keras-mxnet clipped the sigmoid of the logits. Both now
compute Keras's formula.
"""

from shim import mxnet_backend as backend_module


def patch(keras):
    K = backend_module()
    if getattr(K.binary_crossentropy, "_shim", False):
        return

    @K.keras_mxnet_symbol
    def binary_crossentropy(target, output, from_logits=False):
        import mxnet as mx

        t, x = target.symbol, output.symbol
        if from_logits:
            return K.KerasSymbol(mx.sym.relu(x) - x * t +
                                 mx.sym.log1p(mx.sym.exp(-mx.sym.abs(x))))
        eps = K.epsilon()
        p = mx.sym.clip(x, a_min=eps, a_max=1 - eps)
        return K.KerasSymbol(-(t * mx.sym.log(p + eps) + (1 - t) * mx.sym.log(1 - p + eps)))

    binary_crossentropy._shim = True
    K.binary_crossentropy = binary_crossentropy
    keras.backend.binary_crossentropy = binary_crossentropy   # what keras.losses calls
