"""The dense fix: a Dense as one FullyConnected (shim/fused/__init__.py lists why)."""
from shim import fused


def dense(keras):
    from keras.backend import mxnet_backend as K

    dense_layer = keras.layers.Dense
    stock_call = dense_layer.call

    @K.keras_mxnet_symbol
    def fully_connected(x, kernel, bias, units):
        import mxnet as mx

        # FullyConnected's weight is (units, in), Keras's kernel (in, units); flatten=False
        # applies it to the last axis, as K.dot does for inputs of any rank.
        out = mx.sym.FullyConnected(data=x.symbol, weight=mx.sym.transpose(kernel.symbol),
                                    bias=None if bias is None else bias.symbol,
                                    no_bias=bias is None, num_hidden=units, flatten=False)
        return K.KerasSymbol(fused.as_keras_dtype(mx, out))

    def call(self, inputs):
        if K.is_sparse(inputs) or type(self).call is not dense_layer.call:
            return stock_call(self, inputs)
        outputs = fully_connected(inputs, self.kernel, self.bias if self.use_bias else None,
                                  self.units)
        fused.record(self.name, "dense", True)
        return outputs if self.activation is None else self.activation(outputs)

    return fused.patch(dense_layer, "call", call)
