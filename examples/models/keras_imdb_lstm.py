"""The model of Keras's own examples/imdb_lstm.py (keras-apache-mxnet), built and compiled as
that script does, as a --model file (the script loads IMDB and trains when imported).

Two changes:
- the Embedding is told the length the script pads every review to (maxlen), which the script
  leaves open (its input shape is (None, None)) and synthetic data needs;
- the LSTM's dropout=0.2, recurrent_dropout=0.2 are left out: keras-mxnet 2.2.4.3 (through
  shim/) cannot build an LSTM with dropout ("AssertionError: [Debug Info] <Symbol
  lstm_1/dropout1>, None", at `inputs * dp_mask[0]` in keras/layers/recurrent.py), so the
  script's own model does not build here either.

    python bench.py --model examples/models/keras_imdb_lstm.py --impl keras,keras-fused

Its LSTM is Keras's default (hard_sigmoid gates): the fused path keeps it as stock, with the
reason in kept_layers; its Dense is fused.
"""
from keras.layers import LSTM, Dense, Embedding
from keras.models import Sequential

max_features = 20000
maxlen = 80   # the script's sequence.pad_sequences(..., maxlen=maxlen)


def build():
    model = Sequential()
    model.add(Embedding(max_features, 128, input_length=maxlen))
    model.add(LSTM(128))   # the script: LSTM(128, dropout=0.2, recurrent_dropout=0.2)
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
