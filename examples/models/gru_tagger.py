"""A sequence model with a GRU over float features and a softmax over 5 classes, sparse labels.

reset_after=True with sigmoid gates is the GRU MXNet's fused RNN operator computes (CuDNNGRU's
variant); Keras's default GRU (hard_sigmoid, reset_after=False) would be kept as stock.

    python bench.py --model examples/models/gru_tagger.py --impl keras,keras-fused
"""
import keras
from keras import layers


def build():
    model = keras.models.Sequential([
        layers.GRU(48, reset_after=True, recurrent_activation="sigmoid", input_shape=(40, 16)),
        layers.Dense(5, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(lr=0.002),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
