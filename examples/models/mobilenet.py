"""Keras's own MobileNet, as a user takes it from keras.applications: alpha 0.25 on 32x32 colour
images, 10 classes, no pretrained weights, compiled with SGD (issue 30's first real model).

    python bench.py --model examples/models/mobilenet.py --impl keras,keras-fused

Its convolutions carry no bias but the last (conv_preds, which the `bias` fix fuses); `copies`
applies to every model. keras-fused is verified equal to stock, and stock matches Keras on
TensorFlow, its training judged within its float32 conditioning (docs/conformance.md; on
2026-12-04 bench.py recorded `yes (tf.keras 2.15.1)` in the keras rows' `verified`, with the
reference installed: results/epyc-2cores-model-mobilenet).
"""
import keras


def build():
    model = keras.applications.MobileNet(input_shape=(32, 32, 3), alpha=0.25, weights=None,
                                         classes=10)
    model.compile(optimizer=keras.optimizers.SGD(lr=0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model
