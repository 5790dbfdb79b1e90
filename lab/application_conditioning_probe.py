"""Issue 30: are the application cases that differ in training ill-conditioned, or defective?

Two checks, run from the checkout's root under the heavy lock (it builds keras.applications
models; a few minutes, NASNetLarge ~9 GB):
  flock /work/heavy.lock .venv/bin/python lab/application_conditioning_probe.py bn [NAME ...]
    per application at the case's input size, the smallest map (H x W) any BatchNormalization
    sees in training, and so its values per channel at the case's batch (a BatchNorm over 2
    values per channel normalises each to exactly +-1 and its gradient is ~0/0);
  flock /work/heavy.lock .venv/bin/python lab/application_conditioning_probe.py kink \
      [NAME LAYER CHANNEL SIZE BATCH]
    the element of a BatchNorm's training-mode output channel nearest 0, on both sides
    (tf.keras via .venv-reference): opposite signs put the ReLU after it on opposite sides of
    its kink. Default: Xception's first differing gradient, block9_sepconv2_bn channel 84 (its
    case as it is); also DenseNet121 conv4_block20_0_bn 689 64 8 (input 64, batch 8).
  flock /work/heavy.lock .venv/bin/python lab/application_conditioning_probe.py redraw NAME...
    each named case again from 2 other draws of its inputs, targets and weights (the case
    renamed NAME@draw1, @draw2, whose name they are drawn from), the reference made for each
    by tf.keras, and stock judged against it: a near-tie of a max (pooling, a ReLU) ordered
    apart by the two sides' rounding does not come back in another draw, a defect does.
    2026-12-04 (AMD EPYC): DenseNet201 (at 96) and InceptionResNetV2 (at 139) each matched in
    draw 1 and differed in draw 2: in a model this large, some ReLU kink is within rounding
    in most draws (`kinks`).
  flock /work/heavy.lock .venv/bin/python lab/application_conditioning_probe.py kinks NAME LAYER[,LAYER...]
    the case as it is: each named layer's training-mode output on both sides (tf.keras via
    .venv-reference), and every element whose sign differs between them (a ReLU after it then
    passes the gradient on one side only). 2026-12-04 (AMD EPYC): InceptionResNetV2 at 139 has
    one, batch_normalization_200 (block8_10's branch 0) sample 1, (0, 2), channel 31: -1.83e-5
    in keras-mxnet, +1.04e-5 in tf.keras, where the layer's outputs differ by up to 1.05e-4;
    above it every gradient agrees (conv_7b, block8_10_conv, predictions: within 1.7 x the
    one-ulp spread), below it block8_9's and block8_8's differ by 100-600 x. DenseNet201 at 96
    has 9 in conv5's BatchNorms (conv5_block9_0_bn to bn, |values| 7e-9 to 6.5e-5, outputs
    differing by up to 2.6e-4). Both are the kink verdict.py describes, not a defect.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.getcwd())

import dataclasses

KINK = ["Xception", "block9_sepconv2_bn", "84", "0", "0"]   # size, batch 0: the case's own
TF_SIDE = """
import sys, numpy as np
sys.path.insert(0, '.')
import tensorflow as tf
from conformance import reference, exchange
m = reference.load(tf, sys.argv[1] + '/model.h5')
x, _ = exchange.read_data(sys.argv[1])
y = tf.keras.Model(m.input, m.get_layer(sys.argv[2]).output)(x[0], training=True).numpy()
c = y[..., int(sys.argv[3])].ravel()
i = int(np.abs(c).argmin())
print(f'tf.keras    element {i}: {c[i]:.4g}')
"""


def bn_sizes(names):
    from conformance.applications import cases
    from conformance import stock
    from shim.keras_mxnet import keras

    for case in cases():
        if case.data_format != "channels_last" or (names and case.tags["class"] not in names):
            continue
        model, _ = stock.build(case, keras)
        found = sorted((l.output_shape[1] * l.output_shape[2], l.name) for l in model.layers
                       if type(l).__name__ == "BatchNormalization")
        smallest = [n for s, n in found if s == found[0][0]]
        print(f"{case.tags['class']:18} input {case.inputs[0][0][0]:3}: {len(found):3} "
              f"BatchNorms, smallest map {found[0][0]:2} (H x W) at {len(smallest)} of them "
              f"(first {smallest[0]}), {case.batch * found[0][0]} values per channel at "
              f"batch {case.batch}", flush=True)


def kink(name, layer, channel, size, batch):
    from conformance.applications import _builder, cases
    from conformance import stock
    from shim.keras_mxnet import keras

    case = [c for c in cases() if c.name == f"applications.{name}"][0]
    if int(size):
        shape = (int(size), int(size), 3)
        case = dataclasses.replace(case, build=_builder(name, shape),
                                   inputs=[(shape, "float32", 0)])
    if int(batch):
        case = dataclasses.replace(case, batch=int(batch))
    channel = int(channel)
    with tempfile.TemporaryDirectory() as folder:
        stock.run(case, folder)   # writes the model and data tf.keras reads
        model, weights = stock.build(case, keras)
        model.compile("sgd", "mse")
        model.set_weights(weights)
        f = keras.backend.function([model.input, keras.backend.learning_phase()],
                                   [model.get_layer(layer).output])
        c = f([case.draw_inputs()[0], 1])[0][..., channel].ravel()
        i = int(np.abs(c).argmin())
        print(f"{name} {layer} channel {channel}, training mode, the element nearest 0:")
        print(f"keras-mxnet element {i}: {c[i]:.4g} (next nearest |y|: "
              f"{np.sort(np.abs(c))[1]:.3g})", flush=True)
        subprocess.run([".venv-reference/bin/python", "-c", TF_SIDE, folder, layer,
                        str(channel)], check=True)


TF_OUTPUTS = """
import sys, numpy as np
sys.path.insert(0, '.')
import tensorflow as tf
from conformance import reference, exchange
m = reference.load(tf, sys.argv[1] + '/model.h5')
x, _ = exchange.read_data(sys.argv[1])
for i, name in enumerate(sys.argv[2].split(',')):
    y = tf.keras.Model(m.input, m.get_layer(name).output)(x[0], training=True).numpy()
    np.save(f'{sys.argv[1]}/tf{i}.npy', y)
"""


def kinks(name, layers):
    from conformance import stock
    from conformance.corpus import corpus
    from shim.keras_mxnet import keras

    case = corpus()[name]
    layers = layers.split(",")
    with tempfile.TemporaryDirectory() as folder:
        stock.run(case, folder)   # writes the model and data tf.keras reads
        model, weights = stock.build(case, keras)
        model.compile("sgd", "mse")
        model.set_weights(weights)
        subprocess.run([".venv-reference/bin/python", "-c", TF_OUTPUTS, folder, ",".join(layers)],
                       check=True, env=dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1"))
        for i, layer in enumerate(layers):
            f = keras.backend.function([model.input, keras.backend.learning_phase()],
                                       [model.get_layer(layer).output])
            ours, theirs = f([case.draw_inputs()[0], 1])[0], np.load(f"{folder}/tf{i}.npy")
            flips = np.argwhere(np.sign(ours) != np.sign(theirs))
            print(f"{layer}: outputs differ by up to {np.abs(ours - theirs).max():.3g}; "
                  f"{len(flips)} element(s) of opposite sign", flush=True)
            for at in map(tuple, flips):
                print(f"    {at}: keras-mxnet {ours[at]:.3g}, tf.keras {theirs[at]:.3g}")


def redraw(names):
    from conformance import run
    from conformance.corpus import corpus

    cases = corpus()
    drawn = [dataclasses.replace(cases[n], name=f"{n}@draw{k}") for n in names for k in (1, 2)]
    with tempfile.TemporaryDirectory() as folder:
        run.reference(drawn, folder=folder)
        for case in drawn:
            row = run.evaluate(case, folder=folder, fused=False)
            print(f"{case.name}: {row['stock']} {row['detail']}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["bn"]:
        bn_sizes(sys.argv[2:])
    elif sys.argv[1:2] == ["redraw"] and len(sys.argv) > 2:
        redraw(sys.argv[2:])
    elif sys.argv[1:2] == ["kinks"] and len(sys.argv) == 4:
        kinks(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["kink"] and len(sys.argv) in (2, 7):
        kink(*(sys.argv[2:] or KINK))
    else:
        print("usage: application_conditioning_probe.py bn [NAME ...] | "
              "kink [NAME LAYER CHANNEL SIZE BATCH] | redraw NAME... | kinks NAME LAYER[,LAYER]",
              file=sys.stderr)
        sys.exit(2)
