"""The CNN-LSTM as a torch Module on torch's fused LSTM. It returns the logit."""
import torch
from torch import nn

from scenarios import RNN


class CnnLstm(nn.Module):
    def __init__(self, s=RNN):
        super().__init__()
        self.embedding = nn.Embedding(s.vocabulary, s.embedding_dim)
        self.conv = nn.Conv1d(s.embedding_dim, s.conv_filters, s.kernel_size,
                              padding=s.kernel_size // 2)  # 'same' (odd kernel)
        self.pool = nn.MaxPool1d(s.pool_size, s.pool_size)
        self.lstm = nn.LSTM(s.conv_filters, s.lstm_units)  # (steps, batch, features)
        # torch's LSTM has a second (recurrent) bias; it stays at zero and out of training, so
        # all three sides train the same parameters (Gluon does the same with its h2h bias).
        self.lstm.bias_hh_l0.requires_grad_(False)
        self.output_layer = nn.Linear(s.lstm_units, 1)

    def forward(self, tokens):
        x = self.embedding(tokens)                       # (batch, steps, features)
        x = torch.relu(self.conv(x.transpose(1, 2)))     # convolve over steps: NCW
        x = self.pool(x)
        _, (h, _) = self.lstm(x.permute(2, 0, 1))        # h: (1, batch, units), the last step
        return self.output_layer(h[0])                   # (batch, 1)


def build(s=RNN):
    return CnnLstm(s)


def initialize(net, s=RNN):
    """Keras's defaults: Embedding uniform(-scale, scale); Glorot-uniform conv, LSTM input and
    dense weights over the whole matrix; orthogonal recurrent weights (gain 1); zero biases with
    the LSTM's forget gate at `forget_bias` (torch's gate order: input, forget, cell, output)."""
    nn.init.uniform_(net.embedding.weight, -s.embedding_init_scale, s.embedding_init_scale)
    for layer in (net.conv, net.output_layer):
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
    lstm, units = net.lstm, s.lstm_units
    nn.init.xavier_uniform_(lstm.weight_ih_l0)   # (4H, I): fans I and 4H, as Keras's (I, 4H)
    nn.init.orthogonal_(lstm.weight_hh_l0, gain=1.0)
    with torch.no_grad():
        lstm.bias_ih_l0.zero_()
        lstm.bias_ih_l0[units:2 * units] = s.forget_bias
        lstm.bias_hh_l0.zero_()


def probabilities(logits):
    return torch.sigmoid(logits).reshape(-1)
