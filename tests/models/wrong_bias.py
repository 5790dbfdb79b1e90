"""The test model, with the fused path's bias fix mutated to add 0.5 to every fused convolution:
the verification must refuse keras-fused on it (tests/test_user_model.py). Importing the file
mutates the fix in that process only."""
import mxnet as mx

from shim.fused import convolution

from conv_lstm_tokens import build  # noqa: F401 - the model itself is unchanged

right_bias = convolution.bias


def wrong_bias(keras):
    undo = right_bias(keras)
    convolution_op = mx.sym.Convolution

    def shifted(*args, **kwargs):
        out = convolution_op(*args, **kwargs)
        return out + 0.5 if kwargs.get("no_bias") is False else out

    mx.sym.Convolution = shifted

    def undo_both():
        mx.sym.Convolution = convolution_op
        undo()
    return undo_both


convolution.bias = wrong_bias
