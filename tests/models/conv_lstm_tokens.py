"""A test model with an Embedding input, a Conv2D and an LSTM (tests/test_user_model.py)."""
import keras
from keras import layers

LENGTH, VOCABULARY, WIDTH = 12, 30, 8


def build():
    model = keras.models.Sequential([
        layers.Embedding(VOCABULARY, WIDTH, input_length=LENGTH),
        layers.Reshape((1, LENGTH, WIDTH)),
        layers.Conv2D(4, 3, padding="same", activation="relu", data_format="channels_first"),
        layers.Reshape((4 * LENGTH, WIDTH)),
        layers.LSTM(6, recurrent_activation="sigmoid"),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def two_ways():
    """Two inputs (tokens, features) and two outputs (a class, a real), functional."""
    tokens = layers.Input((LENGTH,), name="tokens")
    features = layers.Input((5,), name="features")
    seen = layers.Flatten()(layers.Embedding(VOCABULARY, 2, input_length=LENGTH)(tokens))
    joined = layers.add([layers.Dense(4)(seen), layers.Dense(4)(features)])
    model = keras.models.Model([tokens, features], [
        layers.Dense(2, activation="softmax", name="kind")(joined),
        layers.Dense(1, name="size")(joined)])
    model.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"])
    return model
