"""The CNN-LSTM as a Gluon HybridBlock on MXNet's fused LSTM. It returns the logit."""
import shim

mx = shim.import_mxnet()
from mxnet import init
from mxnet.gluon import nn, rnn

from scenarios import RNN


class CnnLstm(nn.HybridBlock):
    def __init__(self, s=RNN):
        super().__init__()
        self.embedding = nn.Embedding(s.vocabulary, s.embedding_dim,
                                      weight_initializer=init.Uniform(s.embedding_init_scale))
        self.conv = nn.Conv1D(s.conv_filters, s.kernel_size, padding=s.kernel_size // 2,
                              activation="relu")
        self.pool = nn.MaxPool1D(s.pool_size, s.pool_size)
        # Keras's LSTM: Glorot input weights, orthogonal recurrent weights, one bias with the
        # forget gate at 1. The fused LSTM has a second (recurrent) bias; it stays at zero and
        # out of training, so both sides train the same parameters.
        self.lstm = rnn.LSTM(s.lstm_units, layout="TNC",
                             h2h_weight_initializer=init.Orthogonal(scale=1.0, rand_type="normal"),
                             i2h_bias_initializer=init.LSTMBias(s.forget_bias))
        self.lstm.l0_h2h_bias.grad_req = "null"
        self.output_layer = nn.Dense(1)

    def hybrid_forward(self, F, tokens):
        x = self.embedding(tokens)                 # (batch, steps, features)
        x = self.pool(self.conv(x.transpose((0, 2, 1))))  # convolve over steps: NCW
        x = self.lstm(x.transpose((2, 0, 1)))      # (steps, batch, units)
        # The last step by slice_axis: F.SequenceLast here crashed under Adam (see tests).
        last = F.slice_axis(x, axis=0, begin=-1, end=None).reshape((-3, 0))  # (batch, units)
        return self.output_layer(last)


def build(s=RNN):
    return CnnLstm(s)


def probabilities(logits):
    return mx.nd.sigmoid(logits)
