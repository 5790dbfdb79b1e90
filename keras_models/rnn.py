"""The CNN-LSTM sentiment model in Keras."""
from shim.keras_mxnet import keras
from keras.layers import LSTM, Conv1D, Dense, Embedding, MaxPooling1D

from scenarios import RNN


def build(s=RNN):
    return keras.models.Sequential([
        Embedding(s.vocabulary, s.embedding_dim, input_length=s.sequence_length),
        # The embedding yields (steps, features): channels last.
        Conv1D(s.conv_filters, s.kernel_size, padding="same", activation="relu",
               data_format="channels_last"),
        MaxPooling1D(s.pool_size, data_format="channels_last"),
        # Keras 2.2.4 defaults to hard_sigmoid gates; the scenario uses the logistic sigmoid.
        # unroll=True: stock keras-mxnet's default, a contrib.foreach loop, ignored the layer's
        # weights and grew by about 1.3 GB per 1000 training samples; through the shim a default
        # LSTM of known length runs this same unrolled graph (shim/recurrent.py).
        LSTM(s.lstm_units, recurrent_activation="sigmoid", unroll=True),
        Dense(1, activation="sigmoid"),
    ])
