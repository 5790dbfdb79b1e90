"""A text classifier with Keras's default LSTM: its recurrent_activation is hard_sigmoid, which
MXNet's fused RNN operator does not offer, so the fused path keeps the LSTM as stock and says so
(fused_layers / kept_layers in runs.csv); its Dense layers are still fused.

    python bench.py --model examples/models/lstm_classifier.py --impl keras,keras-fused
"""
import keras
from keras import layers

VOCABULARY, LENGTH = 2000, 80


def build():
    model = keras.models.Sequential([
        layers.Embedding(VOCABULARY, 32, input_length=LENGTH),
        layers.LSTM(64),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def build_sigmoid():
    """The same model with sigmoid gates, which the fused path runs as one RNN operator:
    --model examples/models/lstm_classifier.py:build_sigmoid"""
    model = keras.models.Sequential([
        layers.Embedding(VOCABULARY, 32, input_length=LENGTH),
        layers.LSTM(64, recurrent_activation="sigmoid"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model
