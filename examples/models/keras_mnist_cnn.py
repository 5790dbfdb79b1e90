"""The model of Keras's own examples/mnist_cnn.py (keras-apache-mxnet), built and compiled as
that script does, as a --model file: the script itself loads MNIST and trains when imported,
so its model part is repeated here, unchanged (Adadelta, dropout, the layout keras.json gives).

    python bench.py --model examples/models/keras_mnist_cnn.py --impl keras,keras-fused

Adadelta has no twin in keras-graph's Gluon loop here: that arm is refused for this model.
"""
import keras
from keras import backend as K
from keras.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from keras.models import Sequential

num_classes = 10
img_rows, img_cols = 28, 28


def build():
    if K.image_data_format() == "channels_first":
        input_shape = (1, img_rows, img_cols)
    else:
        input_shape = (img_rows, img_cols, 1)
    model = Sequential()
    model.add(Conv2D(32, kernel_size=(3, 3), activation="relu", input_shape=input_shape))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(128, activation="relu"))
    model.add(Dropout(0.5))
    model.add(Dense(num_classes, activation="softmax"))
    model.compile(loss=keras.losses.categorical_crossentropy,
                  optimizer=keras.optimizers.Adadelta(), metrics=["accuracy"])
    return model
