"""A case computed by Keras 2 itself: tf.keras of tensorflow-cpu 2.15 (requirements-reference.txt).

Runs only in .venv-reference (`make setup-reference`), as
`.venv-reference/bin/python -m conformance.reference FOLDER...`: for each folder stock.py wrote,
it writes reference.npz (exchange.py says what each entry is), or reference.json naming why
tf.keras cannot run the case. With `--build NAME...` it only tries to build and run each named
case from its description (for cases keras-mxnet cannot build: does Keras itself build them?),
and prints one JSON line per case.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow turns its oneDNN kernels on by itself on some x86 CPUs only (the Intel Xeons the
# fixtures were first made on), and without them its CPU Conv2D runs NHWC alone: on an AMD EPYC
# every channels_first convolution case came back "tf.keras cannot run" (The Conv2D op currently
# only supports the NHWC tensor format on the CPU). On, the reference is one program everywhere.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import numpy as np  # noqa: E402

from conformance import exchange  # noqa: E402


def one_line(error):
    text = f"{type(error).__name__}: {error}".strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


def keyed(model):
    return [(f"{layer.name}#{i}", w) for layer in model.layers
            for i, w in enumerate(layer.weights)]


def load(tf, path):
    return tf.keras.models.load_model(path, compile=False)


def compute(tf, folder):
    case = exchange.read_json(os.path.join(folder, "case.json"))
    x, y = exchange.read_data(folder)
    # float64 for verdict.py's second judgement: every layer takes its dtype from floatx
    tf.keras.backend.set_floatx(case.get("floatx", "float32"))
    model = load(tf, os.path.join(folder, "model.h5"))
    out = {}
    if model.stateful:
        model.reset_states()
    # Eager calls, not predict/fit's traced functions: a case is one small batch, and tracing a
    # new function per model costs far more than it computes.
    inputs = x if len(x) > 1 else x[0]
    pred = model(inputs, training=False)
    for i, p in enumerate(pred if isinstance(pred, (list, tuple)) else [pred]):
        out[f"pred/{i}"] = np.asarray(p)
    train_path = os.path.join(folder, "train.h5")
    train = load(tf, train_path) if os.path.exists(train_path) else model
    initial = [w.numpy() for w in train.weights]

    def reset():
        for w, value in zip(train.weights, initial):
            w.assign(value)
        if train.stateful:
            train.reset_states()

    loss = case["loss"]
    train.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=case["sgd"]["lr"]), loss=loss,
                  run_eagerly=True)
    reset()
    targets = [tf.constant(t) for t in y] if len(y) > 1 else tf.constant(y[0])
    with tf.GradientTape() as tape:
        predicted = train(inputs, training=True)
        total = train.compute_loss(inputs, targets, predicted)
    grads = tape.gradient(total, train.trainable_weights)
    by_id = {id(w): g for w, g in zip(train.trainable_weights, grads)}
    for key, w in keyed(train):
        if id(w) in by_id and by_id[id(w)] is not None:
            out[f"grad/{key}"] = np.asarray(tf.convert_to_tensor(by_id[id(w)]))
    for name, optimizer in (
            ("sgd", tf.keras.optimizers.SGD(learning_rate=case["sgd"]["lr"])),
            ("adam", tf.keras.optimizers.Adam(learning_rate=case["adam"]["lr"],
                                              epsilon=case["adam"]["epsilon"]))):
        train.compile(optimizer=optimizer, loss=loss, run_eagerly=True)
        reset()
        result = np.atleast_1d(train.train_on_batch(inputs, targets))[0]
        if name == "sgd":
            out["loss"] = np.float64(result)
        for key, w in keyed(train):
            out[f"{name}/{key}"] = w.numpy()
    return out


def build_only(tf, names):
    """Does tf.keras build and predict each named case, from its description alone?"""
    from conformance.corpus import corpus

    cases = corpus()
    for name in names:
        case = cases[name]
        try:
            if case.data_format:
                tf.keras.backend.set_image_data_format(case.data_format)
            model = case.build(tf.keras)
            model.predict(case.draw_inputs(), batch_size=case.batch, verbose=0)
            print(json.dumps({"name": name, "cannot": None}), flush=True)
        except Exception as error:
            print(json.dumps({"name": name, "cannot": one_line(error)}), flush=True)
        finally:
            tf.keras.backend.set_image_data_format("channels_last")


def pool_channels_last(tf):
    """TensorFlow's CPU kernels have no max-pooling gradient in NCHW ("Default
    MaxPoolingGradOp only supports NHWC on device type CPU"): a channels_first 2-D pooling
    layer of tf.keras pools its input transposed to NHWC and transposes the result back, the
    same function (pooling never mixes channels). The one place the reference changes a
    layout; tests/test_conformance.py's regeneration test runs MaxPooling2D channels_first."""
    from keras.src.layers.pooling.base_pooling2d import Pooling2D

    original = Pooling2D.call

    def call(self, inputs):
        if self.data_format != "channels_first":
            return original(self, inputs)
        outputs = self.pool_function(
            tf.transpose(inputs, (0, 2, 3, 1)), ksize=(1,) + self.pool_size + (1,),
            strides=(1,) + self.strides + (1,), padding=self.padding.upper(),
            data_format="NHWC")
        return tf.transpose(outputs, (0, 3, 1, 2))

    Pooling2D.call = call


LIMIT_S = 300   # a case is seconds; one that hangs is named, not waited on forever


def _alarm(signum, frame):
    raise TimeoutError(f"tf.keras took more than {LIMIT_S} s")


def main(argv):
    import signal

    import tensorflow as tf

    # One thread each: the machines this runs on are shared, and threads change no result here.
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    signal.signal(signal.SIGALRM, _alarm)
    pool_channels_last(tf)
    tf.keras.utils.disable_interactive_logging()
    tf.get_logger().setLevel("ERROR")   # retracing notices: each case is a new model
    if argv and argv[0] == "--build":
        build_only(tf, argv[1:])
        return 0
    for folder in argv:
        for stale in ("reference.npz", "reference.json"):
            if os.path.exists(os.path.join(folder, stale)):
                os.remove(os.path.join(folder, stale))
        signal.alarm(LIMIT_S)
        try:
            out = compute(tf, folder)
        except Exception as error:
            exchange.write_json(os.path.join(folder, "reference.json"),
                                {"cannot": one_line(error), "tensorflow": tf.__version__})
            continue
        finally:
            signal.alarm(0)
            tf.keras.backend.clear_session()
            tf.keras.backend.set_floatx("float32")
        out["tensorflow"] = np.array(tf.__version__)
        np.savez(os.path.join(folder, "reference.npz"), **out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
