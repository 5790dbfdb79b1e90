"""One value per Keras variable, whichever model trained it last (applied by shim.keras_mxnet).

keras-mxnet 2.2.4.3 keeps each variable's value twice: in the variable's own NDArray (what
get_weights, save and a new model's Module read) and in the executors of every Module bound with
it (what fit and predict use). It copied between the two only for one model, the module-global
`_MODEL` (the last compiled or the last to predict uncompiled):
- `get_weights`, `save`, `K.get_value` of any other model read the values from before its
  training: two models trained alike from the same weights predicted the same, yet their
  get_weights differed by 0.04;
- `set_weights` / `K.set_value` reached only `_MODEL`'s executors, so another compiled model
  went on with its old weights;
- two models sharing layers (a GAN's discriminator and the combined model, a teacher inside a
  student) each trained its own copy: training one never reached the other.

Now every model whose Module holds a variable's NDArray is known (a weak registry, filled when a
Module is made: compile, or predict uncompiled). A model's executors are copied back into the
variables (keras-mxnet's `_sync_weights`) before anyone reads one of them (get_value, eval,
get_weights, save), before another model that shares any of them runs or is compiled, and before
set_value writes one; a model whose variables another wrote since is given them again
(`_set_weights`) before it next runs. set_value writes the variable's own NDArray in place and
gives it to the bound models that hold it. A model alone pays one check of two attributes per
batch.
"""
import weakref

import numpy as np

from shim import mxnet_backend as backend_module

_models = weakref.WeakSet()
_generation = [0]   # bumped whenever a model's set of arrays changes: sharers are cached by it


def canonical(x):
    """The variable's own NDArray (what every Module is bound from), or None."""
    values = getattr(x, "_bind_values", None)
    return values.get(x.name) if values and getattr(x, "tensor", None) is not None else None


def arrays_of(model):
    return {id(a) for a in list((model._args or {}).values()) + list((model._auxs or {}).values())}


def register(model):
    model._shim_arrays = arrays_of(model)
    model._shim_stale = False
    _models.add(model)
    _generation[0] += 1


def sharers(model):
    """The other registered models holding any of the model's arrays."""
    cached = getattr(model, "_shim_sharers", None)
    if cached is None or cached[0] != _generation[0]:
        mine = getattr(model, "_shim_arrays", set())
        cached = (_generation[0], weakref.WeakSet(
            m for m in _models if m is not model and m._shim_arrays & mine))
        model._shim_sharers = cached
    return cached[1]


def holders(ids):
    return [m for m in _models if m._shim_arrays & ids]


def sync(model):
    """The model's executors copied into its variables, if they are newer; then every model
    sharing a variable with it must be given them again."""
    if model._weights_dirty and model._module is not None and model._module.binded:
        model._sync_weights()


def pull(model):
    """Before the model runs or is compiled: every variable it holds current."""
    for other in list(sharers(model)):
        sync(other)
    if getattr(model, "_shim_stale", False):
        if model._module is not None and model._module.binded:
            model._set_weights()   # the variables' values into its executors
        model._shim_stale = False


def patch(keras):
    K = backend_module()
    model_cls = keras.engine.training.Model
    if getattr(model_cls._adjust_module, "_shim", False):
        return

    stock_sync = model_cls._sync_weights

    def _sync_weights(self):
        if self._weights_dirty:
            stock_sync(self)
            for other in sharers(self):
                other._shim_stale = True

    def before(method, after_register=False):
        def wrapped(self, *args, **kwargs):
            if after_register:   # a new Module is made from the variables: they must be current
                sync(self)
            pull(self)
            result = method(self, *args, **kwargs)
            if after_register:
                register(self)
            return result
        wrapped._shim = True
        return wrapped

    def _update(self, updates):
        # A Keras state update (a stateful layer's states, BatchNormalization's moving
        # statistics: shim/batchnorm.py) computed by the graph, written into the executors.
        # keras-mxnet wrote into arguments only (a moving statistic is an auxiliary state of
        # MXNet's BatchNorm), and left the Module's cache of its parameters clean, so that
        # get_params (and with it get_weights, K.eval of a stateful layer's states) kept
        # returning the values from before a prediction.
        for exe in self._module._curr_module._exec_group.execs:
            outputs, args, auxs = exe.output_dict, exe.arg_dict, exe.aux_dict
            for dst, src in updates.items():
                (args[dst] if dst in args else auxs[dst])[:] = outputs[src + "_output"]
        self._module._params_dirty = True

    model_cls._sync_weights = _sync_weights
    model_cls._update = _update
    model_cls._adjust_module = before(model_cls._adjust_module)
    model_cls.compile = before(model_cls.compile, after_register=True)
    stock_predict_module = model_cls._create_predict_module

    def _create_predict_module(self):
        # The Module of a model predicting uncompiled: keras-mxnet built it from the training
        # graph (the learning phase is 1 outside compile) and applied none of its state updates,
        # so a stateful layer's states never moved. Built as compile builds its 'pred' graph.
        phase = K.learning_phase()
        K.set_learning_phase(0)
        try:
            stock_predict_module(self)
            self._test_updates = {dst.name: src.name for dst, src in self.state_updates}
        finally:
            K.set_learning_phase(phase)

    model_cls._create_predict_module = before(_create_predict_module, after_register=True)

    stock_eval = K.eval

    def eval(x):
        array = canonical(x) if isinstance(x, K.KerasSymbol) else None
        if array is not None:
            for model in holders({id(array)}):
                sync(model)
        return stock_eval(x)

    stock_set_value = K.set_value

    def batch_set_value(tuples):
        known = []
        for x, value in tuples:
            array = canonical(x)
            if array is None:
                stock_set_value(x, value)
                continue
            value = np.asarray(value, dtype=array.dtype)
            if value.shape != array.shape and value.size == array.size == 1:
                value = value.reshape(array.shape)
            if value.shape != array.shape:
                raise ValueError(f"can't set {x.name} of shape {array.shape} to a value of shape "
                                 f"{value.shape}")
            known.append((x, array, value))
        affected = holders({id(array) for _, array, _ in known})
        for model in affected:   # their other variables kept
            sync(model)
        for x, array, value in known:
            array[:] = value
            x.tensor = array      # keras-mxnet rebound it to a copy, which later syncs missed
        for model in affected:
            model._shim_stale = True
            pull(model)

    def set_value(x, value):
        batch_set_value([(x, value)])

    for namespace in (K, keras.backend):
        namespace.eval = eval
        namespace.set_value = set_value
        namespace.batch_set_value = batch_set_value

