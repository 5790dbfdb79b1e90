"""A text classifier in the pattern of Keras 2.2.4's examples/imdb_bidirectional_lstm.py: an
Embedding, a Bidirectional GRU (its default merge_mode 'concat'), Dropout, a sigmoid.

    python bench.py --model examples/models/bidirectional_gru.py --impl keras,keras-fused

reset_after=True with sigmoid gates is the GRU MXNet's fused RNN operator computes, so the
`rnn` fix can run it; Keras's default GRU would be kept stock.
"""
import keras
from keras import layers


def build():
    model = keras.models.Sequential([
        layers.Embedding(2000, 32, input_length=80),
        layers.Bidirectional(layers.GRU(32, reset_after=True, recurrent_activation="sigmoid")),
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model
