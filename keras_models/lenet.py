"""LeNet in Keras, channels first (MXNet's native layout), asked for layer by layer: the
shim leaves Keras's global image_data_format as the user's keras.json has it."""
from shim.keras_mxnet import keras
from keras.layers import Conv2D, Dense, Flatten, MaxPooling2D

from scenarios import LENET

CHANNELS_FIRST = "channels_first"


def build(s=LENET):
    return keras.models.Sequential([
        Conv2D(s.conv_filters[0], s.kernel_size, padding="same", activation="relu",
               data_format=CHANNELS_FIRST, input_shape=s.input_shape),
        MaxPooling2D(s.pool_size, data_format=CHANNELS_FIRST),
        Conv2D(s.conv_filters[1], s.kernel_size, padding="same", activation="relu",
               data_format=CHANNELS_FIRST),
        MaxPooling2D(s.pool_size, data_format=CHANNELS_FIRST),
        # Keras's channels_first Flatten moves the channels last before flattening (Gluon's
        # doesn't): the same function, with the next kernel's rows in another order.
        Flatten(data_format=CHANNELS_FIRST),
        Dense(s.hidden_units, activation="relu"),
        Dense(s.classes, activation="softmax"),
    ])
