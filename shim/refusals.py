"""What keras-mxnet cannot build is refused naming the layer and what would work (applied by
shim.keras_mxnet).

keras-mxnet raises from its backend where MXNet has no operator for a layer
("MXNet Backend: local_conv2d operator is not supported yet."): the message names a backend
function, not the layer that asked for it, nor an alternative. Such a refusal, raised while a
layer is called on its input (when the model is built), now says which layer it was, and for the
features known to be missing, what builds instead. The exception's type is kept.
"""

# Words of keras-mxnet's refusals -> what builds on MXNet instead.
ALTERNATIVES = {
    "local_conv": "LocallyConnected1D/2D have no MXNet operator here; Conv1D/Conv2D (weights "
                  "shared across positions) build, or run this model on Keras with TensorFlow",
    "Separable Conv1D": "SeparableConv1D has no MXNet operator here; SeparableConv2D on a "
                        "(steps, 1, channels) input (a Reshape before, one after) computes the "
                        "same function",
}


def patch(keras):
    layer_cls = keras.engine.base_layer.Layer
    if getattr(layer_cls.__call__, "_shim", False):
        return
    stock_call = layer_cls.__call__

    def __call__(self, *args, **kwargs):
        try:
            return stock_call(self, *args, **kwargs)
        except (NotImplementedError, ValueError) as error:
            message = str(error)
            if not message.lower().startswith("mxnet backend") or "can't be built" in message:
                raise
            hint = next((why for words, why in ALTERNATIVES.items() if words in message), None)
            raise type(error)(f"layer {self.name!r} ({type(self).__name__}) can't be built on "
                              f"MXNet: {message}" + (f" {hint}." if hint else "")) from error

    __call__._shim = True
    layer_cls.__call__ = __call__
