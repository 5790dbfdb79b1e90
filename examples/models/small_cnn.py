"""A small image classifier as a Keras user writes one: two convolutions, pooling, two Dense.

    python bench.py --model examples/models/small_cnn.py --impl keras,keras-fused,keras-graph

The layout is given per layer (channels_first, MXNet's own) rather than read from keras.json.
"""
import keras
from keras import layers

LAYOUT = "channels_first"


def build():
    model = keras.models.Sequential([
        layers.Conv2D(16, 3, padding="same", activation="relu", data_format=LAYOUT,
                      input_shape=(3, 32, 32)),
        layers.MaxPooling2D(2, data_format=LAYOUT),
        layers.Conv2D(32, 3, padding="same", activation="relu", data_format=LAYOUT),
        layers.MaxPooling2D(2, data_format=LAYOUT),
        layers.Flatten(data_format=LAYOUT),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(lr=0.05), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model
