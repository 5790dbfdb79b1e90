"""A user's own Keras model: `bench.py --model FILE.py[:FUNCTION]` (docs/your-model.md).

FUNCTION (default `build`) returns a compiled Keras model, with the user's loss and optimizer.
Every process that needs the model (the check of the command line, the verification, each
cell) imports the file and calls the function itself: a model is never passed between
processes, only the spec.

The model trains on synthetic data shaped from the model (`synthetic_data`), seeded, so every arm
sees the same arrays: integer tokens in [0, input_dim) for an input that feeds an Embedding,
floats in [0, 1) elsewhere; targets as the output's loss takes them.

    python -m keras_models.user_model describe FILE.py[:FUNCTION]
        one JSON line: name, parameters, file hash; or one line on stderr and exit status 2
    python -m keras_models.user_model verify FILE.py[:FUNCTION] CTX ARM...
        one JSON line: {arm: "yes" or why it is refused} (shim/fused/verify.py)
"""
import hashlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cell.contract import evaluate

DEFAULT_FUNCTION = "build"
DEFAULT_SAMPLES = 1024     # --max-samples for a --model sweep unless given
WEIGHTS_SEED = 0           # numpy's and MXNet's generators, before every build
VERIFY_BATCH_PER_DEVICE = 4   # the verification's one batch: samples per context
VERIFY_SEED = 1               # not the sweep's data: the check is of the function, not of a batch
CLASS_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")


class ModelError(Exception):
    """The user's file, function or model cannot be benchmarked: one line."""


def split_spec(spec):
    """'dir/net.py:make' -> (Path('dir/net.py'), 'make'); 'net.py' -> (Path('net.py'), 'build')."""
    path, colon, function = spec.rpartition(":")
    if not colon or not function.isidentifier():
        path, function = spec, DEFAULT_FUNCTION
    return Path(path), function


def name_of(spec):
    """The model's name in the rows (the scenario column) and in log names: 'net.make'."""
    path, function = split_spec(spec)
    return f"{path.stem}.{function}"


def file_hash(spec):
    return hashlib.sha256(split_spec(spec)[0].read_bytes()).hexdigest()


def builder(spec):
    """The user's function, imported from its file (whose folder it may import beside it)."""
    path, function = split_spec(spec)
    if path.suffix != ".py" or not path.is_file():
        raise ModelError(f"--model {spec}: no such Python file {str(path)!r}")
    from shim import keras_mxnet   # noqa: F401 - first, so that the file's `import keras` works

    sys.path.insert(0, str(path.resolve().parent))
    module_name = f"user_model_{path.stem}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader)
    try:
        loader.loader.exec_module(module)
    except Exception as error:
        raise ModelError(f"--model {spec}: importing {path} raised {last_line(error)}") from None
    found = getattr(module, function, None)
    if not callable(found):
        raise ModelError(f"--model {spec}: {path} has no function {function!r}")
    return found


def last_line(error):
    """'ValueError: the message's last line' (a long message's last line says the most)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[-1]}" if lines else type(error).__name__


def build(spec, function=None):
    """The user's compiled model, checked. Seeded, so that every process builds the same initial
    weights: Keras draws them from MXNet's generator and (orthogonal kernels) numpy's."""
    from shim.keras_mxnet import keras
    import mxnet as mx

    function = function or builder(spec)
    # Layer names count up per process: reset, every build names its layers as the first one
    # in a fresh process does, so that the verification's, a cell's and the log's names agree.
    keras.backend.reset_uids()
    np.random.seed(WEIGHTS_SEED)
    mx.random.seed(WEIGHTS_SEED)
    try:
        model = function()
    except Exception as error:
        raise ModelError(f"--model {spec}: {function.__name__}() raised {last_line(error)}") \
            from None
    if not isinstance(model, keras.models.Model):
        raise ModelError(f"--model {spec}: {function.__name__}() returned "
                         f"{type(model).__name__}, not a Keras model")
    if not getattr(model, "_is_compiled", False):
        raise ModelError(f"--model {spec}: {function.__name__}() returned a model that is not "
                         "compiled; call model.compile(optimizer, loss) in it")
    named = [(f"input {layer.name}", tensor)
             for layer, tensor in zip(model._input_layers, model.inputs)]
    named += [(f"output {name}", tensor) for name, tensor in zip(model.output_names, model.outputs)]
    for what, tensor in named:
        shape = keras.backend.int_shape(tensor)
        if None in shape[1:]:
            raise ModelError(f"--model {spec}: {what} has shape {shape}, with an unknown "
                             "dimension other than the batch, which synthetic data cannot "
                             "shape; give the model a full input_shape (e.g. an Embedding's "
                             "input_length)")
    return model


def recompiled(model, context, **options):
    """The user's compiled model, compiled again as the sweep trains it: on its --ctx (and
    kvstore), with the user's own optimizer, loss, loss weights and metrics."""
    model.compile(optimizer=model.optimizer, loss=model.loss, metrics=model.metrics,
                  loss_weights=model.loss_weights, sample_weight_mode=model.sample_weight_mode,
                  context=context.keras(), **options)
    return model


@dataclass
class Data:
    """Synthetic arrays in benchdata's layout: a list where the model has several inputs or
    outputs, the array itself where it has one."""
    x_train: object
    y_train: object
    x_val: object
    y_val: object
    kind: str = "synthetic"


def synthetic_data(model, samples, seed):
    """`samples` training and as many validation samples, the same for every arm and seed."""
    rng = np.random.default_rng([seed, samples])

    def draw():
        xs = [inputs(model, i, samples, rng) for i in range(len(model.inputs))]
        ys = [targets(model, i, samples, rng) for i in range(len(model.outputs))]
        return (xs if len(xs) > 1 else xs[0]), (ys if len(ys) > 1 else ys[0])

    (x_train, y_train), (x_val, y_val) = draw(), draw()
    return Data(x_train, y_train, x_val, y_val)


def inputs(model, index, samples, rng):
    from shim.keras_mxnet import keras

    tensor = model.inputs[index]
    shape = (samples,) + keras.backend.int_shape(tensor)[1:]
    vocabulary = embedding_size(model, index)
    if vocabulary:
        return rng.integers(0, vocabulary, shape).astype(tensor.dtype)
    return rng.random(shape, dtype=np.float32).astype(tensor.dtype)


def embedding_size(model, index):
    """input_dim of the Embedding that input `index` feeds, or None."""
    from shim.keras_mxnet import keras

    for node in model._input_layers[index]._outbound_nodes:
        if isinstance(node.outbound_layer, keras.layers.Embedding):
            return node.outbound_layer.input_dim
    return None


def loss_name(model, index):
    function = model.loss_functions[index]
    return getattr(function, "__name__", type(function).__name__)


def targets(model, index, samples, rng):
    """Targets as output `index`'s loss takes them: one-hot, sparse integers, 0/1 or reals."""
    from shim.keras_mxnet import keras

    shape = (samples,) + keras.backend.int_shape(model.outputs[index])[1:]
    return target(rng, loss_name(model, index), shape)


def target(rng, loss, shape):
    """Targets of `shape` as `loss` takes them (also the conformance corpus's, conformance/cases.py)."""
    if loss == "categorical_crossentropy":
        return np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, shape[-1], shape[:-1] + (1,)).astype(np.float32)
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, shape).astype(np.float32)
    return rng.normal(0, 1, shape).astype(np.float32)


def parameter_count(model):
    from shim.keras_mxnet import keras

    return int(keras.utils.layer_utils.count_params(model.trainable_weights))


def gluon_optimizer(model):
    """The user's optimizer as scenarios.Optimizer, for keras-graph's Gluon Trainer, or a
    ModelError saying why it has no twin there (keras-graph is then refused for the model)."""
    import scenarios

    kind = type(model.optimizer).__name__
    config = model.optimizer.get_config()
    if config.get("decay"):
        raise ModelError(f"the optimizer's decay={config['decay']} has no twin in keras-graph's "
                         "Gluon loop here")
    if kind == "SGD" and not config.get("momentum") and not config.get("nesterov"):
        return scenarios.Optimizer("sgd", config["lr"])
    if kind == "Adam" and not config.get("amsgrad"):
        return scenarios.Optimizer("adam", config["lr"], config["beta_1"], config["beta_2"],
                                   config["epsilon"])
    raise ModelError(f"keras-graph's Gluon loop has plain SGD and Adam only here; this model's "
                     f"optimizer is {kind} {config}")


class UserModel:
    """What the harness and the Keras implementations read of a scenario, for a user's model:
    its name, size, how it is built, and how its validation is scored."""
    user_model = True   # its targets come shaped for the loss already (keras_models.train)

    def __init__(self, spec):
        self.spec = spec
        self.name = name_of(spec)
        self.function = builder(spec)
        model = build(spec, self.function)
        self.parameters = parameter_count(model)
        self.losses = [loss_name(model, i) for i in range(len(model.outputs))]
        self.model = model   # the first build: shapes the data; arms build their own

    def compiled(self, context, **options):
        return recompiled(build(self.spec, self.function), context, **options)

    def data(self, samples, seed):
        return synthetic_data(self.model, samples, seed)

    def parameter_count(self):
        return self.parameters

    @property
    def optimizer(self):
        return gluon_optimizer(self.model)

    def flops_per_sample(self):
        return None   # not derived for a user's model: its gflops columns stay blank

    def evaluate(self, labels, probabilities):
        """(validation loss, accuracy) by cell.contract.evaluate where one output's loss is a
        cross-entropy it scores; (None, None) otherwise."""
        if len(self.losses) != 1:
            return None, None
        loss, labels = self.losses[0], np.asarray(labels)
        if loss in CLASS_LOSSES:
            classes = labels.argmax(-1) if loss == CLASS_LOSSES[0] else labels[..., 0]
            return evaluate(scored("categorical_crossentropy"), classes.ravel(),
                                    np.reshape(probabilities, (classes.size, -1)))
        if loss == "binary_crossentropy" and labels.shape[1:] in ((), (1,)):
            return evaluate(scored(loss), labels.ravel(), probabilities)
        return None, None


def scored(loss):
    return type("Scored", (), {"loss": loss})


def verify_arms(spec, ctx, arms):
    """{arm: 'yes', or why it is refused} for the keras-fused and keras-graph `arms` on one
    batch of the model's synthetic data on `ctx`, each against stock Keras from the same weights
    (shim/fused/verify.py, keras_models.graph.first_difference)."""
    from shim import fused
    from shim.contexts import parse
    from shim.fused import verify

    context = parse(ctx)
    function = builder(spec)
    compiled = lambda: recompiled(build(spec, function), context)
    batch = synthetic_data(build(spec, function), VERIFY_BATCH_PER_DEVICE * context.devices,
                           VERIFY_SEED)
    found = {}
    for arm in arms:
        if arm == "keras-graph":
            from keras_models import graph

            model = compiled()
            try:
                why = graph.first_difference(model, batch.x_train, batch.y_train, context,
                                             gluon_optimizer(model))
            except ModelError as error:
                why = str(error)
        else:   # keras-fused[:FIX+FIX]
            fixes = fused.parse(arm.partition(":")[2])
            stock, fast = (verify.build(compiled, on) for on in (False, fixes))
            why = verify.first_difference(stock, fast, batch.x_train, batch.y_train,
                                          context.keras())
        found[arm] = "yes" if why is None else why
    return found


def describe(spec):
    """What bench.py records of the model before any cell: checked as a cell will load it."""
    model = UserModel(spec)
    return {"name": model.name, "parameters": model.parameters, "sha256": file_hash(spec),
            "file": str(split_spec(spec)[0])}


def main(argv):
    command, spec, *rest = argv
    try:
        if command == "describe":
            print(json.dumps(describe(spec)))
        else:
            ctx, *arms = rest
            print(json.dumps(verify_arms(spec, ctx, arms)))
    except ModelError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
