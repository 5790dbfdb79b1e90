"""LeNet in Keras, channels first."""
from shim.keras_mxnet import keras
from keras.layers import Conv2D, Dense, Flatten, MaxPooling2D

from scenarios import LENET


def build(s=LENET):
    return keras.models.Sequential([
        Conv2D(s.conv_filters[0], s.kernel_size, padding="same", activation="relu",
               input_shape=s.input_shape),
        MaxPooling2D(s.pool_size),
        Conv2D(s.conv_filters[1], s.kernel_size, padding="same", activation="relu"),
        MaxPooling2D(s.pool_size),
        Flatten(),
        Dense(s.hidden_units, activation="relu"),
        Dense(s.classes, activation="softmax"),
    ])
