"""keras-mxnet 2.2.4.3 on Python 3.11: `from shim.keras_mxnet import keras`.

Nothing on disk is patched: every change is applied in memory when this module is imported,
before or right after keras itself is imported. Import keras only through here.

This is everything the import changes, each with the tests that keep it true (tests/test_*.py);
the rest of Keras stays stock: image_data_format, floatx and epsilon come from keras.json or
Keras's defaults (the benchmark's models ask for channels_first per layer), and no MXNET_*
variable is set (bench.py sets process-wide settings for every implementation alike).
- Environment: `KERAS_BACKEND=mxnet`, and nothing else.
  Tests: test_import_keeps_keras_defaults_and_the_environment,
  test_import_keeps_the_users_keras_json, test_user_models_written_for_stock_keras_compute_as_stock
- Python 3.10 removed `collections.Iterable` and friends, which keras/callbacks.py imports: `import
  shim` restores them as aliases of collections.abc.
  Tests: test_import_keeps_keras_defaults_and_the_environment
- PyYAML 6 made `yaml.load` require a Loader, which keras's `model_from_yaml` doesn't pass: a call
  without one gets a safe loader that also reads what keras's `to_yaml` writes (tuples, numpy
  arrays and dtypes, e.g. a Constant initializer's value) and refuses, with a clear error, any
  other Python tag, as loading it would run code (shim/files.py).
  Tests: test_functional_model_with_lambda_survives_save_and_config,
  test_yaml_config_with_a_numpy_array_round_trips,
  test_yaml_naming_any_other_python_object_is_refused_and_runs_nothing
- h5py 3 reads every string attribute as str; keras writes bytes and calls .decode('utf8') on
  them. ASCII string attributes (written as bytes) come back as bytes again, as with h5py 2;
  UTF-8 ones (written as str) stay str (shim/files.py).
  Tests: test_hdf5_attributes_come_back_as_written,
  test_sequential_fit_evaluate_predict_and_hdf5_round_trip
- keras/__init__.py sets `warnings.simplefilter('always', DeprecationWarning)`, which repeats every
  deprecation warning per layer: its end-of-life notice is shown once and the filter is not left
  behind. Tests: test_end_of_life_warning_shown_once_and_filter_not_left_behind
- keras-mxnet lays channels_first convolution kernels out as (out, in, *kernel) but computed
  Glorot's fans for (*kernel, in, out), so its convolutions started at the wrong scale: fans now
  follow the layer's layout. Tests: test_lenet_initializers_are_the_same_family
- keras-mxnet inferred a Lambda's output shape with batch size 0 instead of None.
  Tests: test_functional_model_with_lambda_survives_save_and_config
- keras-mxnet mapped every 'cpu...' context to cpu(0), so `context=['cpu(0)', 'cpu(1)']` ran two
  executors on one context while Gluon ran on two: 'cpu(i)' means cpu(i).
  Tests: test_cpu_context_indices_are_honoured
- keras-mxnet data-parallel training summed per-device *mean* gradients, so with N contexts the
  gradient (and SGD's step) was N times the mean over the global batch: a Keras optimizer's
  rescale_grad is set to 1/N in Module's `init_optimizer`, so Keras trains on the mean over the
  global batch, as Gluon does.
  Tests: test_data_parallel_gradient_is_the_mean_over_the_global_batch
- MXNet's parameter server (kvstore 'dist_sync', see distributed.py) with Keras: keras-mxnet
  ignored `compile(kvstore=...)` (only Model(..., kvstore=) set it), so
  compile now honours it; with a dist kvstore MXNet runs the optimizer on the servers and pickles
  it to them, which failed ("Can't pickle local object 'get_optimizers.<locals>.SGD'": keras-mxnet
  defines its optimizer classes inside a function). `KVStore.set_optimizer` now sends a dist
  kvstore, instead, the MXNet optimizer the keras-mxnet one extends, with the same state and the
  current learning rate: the update is MXNet's own code either way, as keras-mxnet only overrides
  the learning rate's decay, which is refused unless 0 (and later changes of the Keras lr don't
  reach the servers). Module's `init_optimizer` broadcasts rank 0's initial weights on a dist
  kvstore, and rescale_grad becomes 1/(contexts x workers) for dist_sync, since the servers sum
  every worker's gradients. Optimizers that aren't a compiled Keras model's are left alone.
  Tests: test_keras_on_dist_sync_through_the_shim,
  test_keras_optimizers_go_to_the_servers_as_mxnet_optimizers

- keras-mxnet's default recurrent loop (unroll=False, over `contrib.foreach`) never used the
  layer's weights: a fresh LSTM predicted exactly 0.0 and get_weights reported values it never
  used; its LSTM step also added bias_i to all four gates. A stacked recurrent layer could not be
  built (its zero state was (1, N x units)), nor one with dropout (a training-trace mask reused
  in the inference trace); a cell that is not a Layer had no `weights` for the loop. shim/recurrent.py says how each is mended.
  Tests: test_stock_default_lstm_ignores_its_weights,
  test_default_recurrent_layer_predicts_and_trains_as_unrolled,
  test_implementation_1_gives_each_gate_its_own_bias,
  test_stacked_recurrent_layers_build_and_match_unrolled, test_masked_default_lstm_matches_unrolled,
  test_default_lstm_get_weights_give_the_trained_weights,
  test_recurrent_dropout_builds_and_predicts_without_dropout,
  test_cell_that_is_not_a_layer_computes_with_its_variables
- keras-mxnet's BatchNormalization called MXNet's BatchNorm without fix_gamma=False, so gamma was
  neither applied nor learned; with scale=False / center=False it still had a gamma and a beta
  weight (h5 files did not cross with Keras); under a channels_first keras.json its default axis
  -1 became 1; it ignored `training=`; and MXNet updates the moving variance with the biased batch
  variance where tf.keras uses the unbiased one (4-D inputs over axis 1 or 3), and not at all
  where nothing before it is trainable. shim/batchnorm.py says how each is mended.
  Tests: test_batchnorm_applies_its_gamma,
  test_batchnorm_learns_gamma_and_beta_and_updates_moving_statistics_as_keras,
  test_batchnorm_without_scale_or_center_has_keras_weights,
  test_batchnorm_training_argument_is_honoured,
  test_batchnorm_without_weights_on_the_input_moves_its_statistics,
  test_batchnorm_default_axis_stays_the_last_with_channels_first
- keras-mxnet copied between a variable's value and a Module's executors only for its last
  compiled model (`_MODEL`): get_weights, save and set_weights of any other model read or wrote
  stale values, and models sharing layers (a GAN) each trained a copy of their own.
  shim/weights.py keeps one value per variable, whichever model wrote it last.
  Tests: test_two_models_alternately_compiled_trained_read_and_saved_give_their_own_weights,
  test_set_weights_reach_a_model_that_is_not_the_last_compiled,
  test_models_sharing_layers_train_one_set_of_weights
- keras-mxnet's Module of a model predicting uncompiled came from the training graph and applied
  no state update, and a state update written by a prediction never reached get_weights or
  K.eval (the Module's parameter cache stayed clean): a stateful layer's states never moved, or
  moved unseen. shim/weights.py builds that Module as compile builds its prediction graph and
  marks the cache dirty. Tests: test_stateful_states_are_carried_and_read_back_after_predict
- keras-mxnet resolved negative axes against `ndim`, which is 0 where MXNet infers no shape
  with an unknown batch (a recurrent layer's output before `__call__` sets its _keras_shape):
  Bidirectional's default concatenation stacked its directions along the batch ("dot shape
  error: [32,6] X [12,3]"), and a sequence output's loss could not be weighed; where MXNet's
  partial inference failed outright (an LSTM after a concatenation it inferred wrongly:
  babi_memnn), the model could not be built. shim/shapes.py infers such shapes with the batch
  known. Tests: test_bidirectional_concat_is_both_directions_side_by_side,
  test_backend_negative_axes_on_a_tensor_without_a_keras_shape,
  test_sequence_output_trains_on_its_mean_loss,
  test_lstm_after_a_concatenation_mxnet_infers_wrongly
- keras-mxnet's transposed convolutions let MXNet pad to Keras's output size (target_shape),
  which MXNet's oneDNN deconvolution fails to run wherever that padding isn't 0 (every
  padding='same' layer), and which crops an odd padding at the other end than Keras; its
  depthwise convolutions refused depth_multiplier != 1. shim/convolution.py gives MXNet Keras's
  crop, and the multiplier as a grouped convolution. oneDNN also failed the backward pass of a
  one-filter transposed convolution fed by a convolution ("could not create a primitive
  descriptor for a reorder primitive"): it runs with a zero second filter, sliced off.
  A channels_first ConvLSTM2D's convolutions read its (*kernel, in, out) kernels as (out, in,
  *kernel) and could not be built: they now get them transposed (the weights keep Keras's layout).
  Tests: test_conv2d_transpose_matches_keras, test_depthwise_conv2d_matches_keras,
  test_one_filter_transposed_convolution_after_a_convolution_trains_as_keras,
  test_conv_lstm2d_channels_first_computes_what_channels_last_does
- keras-mxnet's K.shape was static (None for the batch), so GaussianNoise, GaussianDropout and
  AlphaDropout could not be built (a random tensor of shape (0, n)); K.in_train_phase chose its
  branch once, so a noise layer's noise went into predict too; and K.dropout ignored noise_shape
  (SpatialDropout dropped elements, not channels). shim/noise.py mends each, and refuses in one
  line a random shape or noise_shape MXNet can't make.
  Tests: test_noise_layers_add_noise_in_training_only,
  test_spatial_dropout_drops_whole_channels,
  test_random_tensor_of_an_unknown_shape_is_refused_in_one_line
- keras-mxnet padded padding='same' convolutions and pooling ceil(total / 2) at both ends and cut
  the end, so where the total is odd (an even kernel; stride 2 on an even size) every window
  started one element early; its 'same' average pooling counted the padding. shim/padding.py
  pads as Keras (the fused path uses it too). Tests: test_same_convolution_pads_as_keras,
  test_same_pooling_pads_and_averages_as_keras
- keras-mxnet's K.identity evaluated its argument into a new variable, and Keras's Layer.__call__
  copies with it an output that is the layer's input: no layer that returns its input unchanged
  (Activation('linear'), ActivityRegularization) could be built ("InferShape pass cannot decide
  shapes ... /input_1"). A tensor of the graph now gets MXNet's identity op (shim/identity.py).
  Tests: test_layers_returning_their_input_build_predict_and_train
- keras-mxnet's UpSampling2D(interpolation='bilinear') repeated pixels (its resize_images ignored
  `interpolation`): it computes Keras's bilinear resize (half-pixel centers) with MXNet's
  BilinearResize2D (shim/upsampling.py). Tests: test_bilinear_upsampling_matches_keras
- keras-mxnet's binary cross-entropy took log(p) of the clipped output where Keras takes
  log(p + eps) (log(2 eps), not log(eps), where an output reaches the clip), and clipped the
  sigmoid of logits where Keras computes from the logits unclipped (shim/losses.py).
  Tests: test_binary_crossentropy_is_keras_at_the_clip_too,
  test_binary_crossentropy_from_logits_is_unclipped
- keras-mxnet's refusals named a backend function ("local_conv2d operator is not supported
  yet"), not the layer: raised while a layer is built, they now name it (and for the features
  known to be missing, what builds instead) (shim/refusals.py).
  Tests: test_unsupported_layers_are_refused_naming_the_layer_and_what_builds
- keras-mxnet inferred a tensor's shape over its whole graph at every query (~10,000 times to
  build DenseNet121): the answer is kept until the graph changes, so nothing computed changes
  (shim/shape_memo.py says why a kept shape cannot be stale).
  Tests: test_a_shape_is_inferred_once_and_is_what_mxnet_infers,
  test_a_graph_changed_in_place_is_inferred_again

Opt-in only, never on import: shim/fused/, the fused path (`fused.enable()`).

Checked and left alone: Lambda layers serialize their function with `marshal`, which works on
3.11 (but only for models saved by the same Python minor version).
Tests: test_unrolled_lstm_get_weights_and_save_give_the_trained_weights
"""
import os
import warnings

import shim
from shim import (batchnorm, convolution, files, identity, losses, noise, padding, recurrent,
                  refusals, shape_memo, shapes, upsampling, weights)

# The backend is chosen before keras reads its config file. Nothing else of Keras's
# configuration is touched: layouts are asked for per layer (keras_models/).
os.environ["KERAS_BACKEND"] = "mxnet"

def _as_mxnet(optimizer):
    """The MXNet optimizer a keras-mxnet optimizer extends, with the same state: what a dist
    kvstore can pickle to its servers (keras-mxnet's classes are local to a function)."""
    import mxnet as mx

    base = next(c for c in type(optimizer).__mro__
                if c.__module__.startswith("mxnet.optimizer") and c is not mx.optimizer.Optimizer)
    decay = float(optimizer.decay.tensor.asscalar())
    if decay:
        raise ValueError(f"keras {type(optimizer).__name__}(decay={decay:g}) can't run on a dist "
                         f"kvstore's servers: MXNet's {base.__name__} has no Keras-style decay; "
                         f"use decay=0")
    state = {k: v for k, v in optimizer.__getstate__().items()
             if k not in ("decay", "updates", "weights", "_keras_model")}
    state["lr"] = float(optimizer.lr.tensor.asscalar())
    plain = base.__new__(base)
    plain.__setstate__(state)
    return plain


def _patch_keras(keras):
    from keras.backend import mxnet_backend
    import mxnet as mx

    # A Lambda's output shape is inferred by running it on a placeholder; MXNet reports the
    # unknown batch dimension as 0, and the next layer then rejects (0, n) against (None, n).
    lambda_output_shape = keras.layers.Lambda.compute_output_shape

    def compute_output_shape(self, input_shape):
        batch = (input_shape[0] if isinstance(input_shape, list) else input_shape)[0]

        def fix(shape):
            return (batch,) + tuple(shape[1:]) if shape and shape[0] == 0 else shape

        shape = lambda_output_shape(self, input_shape)
        return [fix(s) for s in shape] if isinstance(shape, list) else fix(shape)

    keras.layers.Lambda.compute_output_shape = compute_output_shape

    original_get_context = mxnet_backend._get_mxnet_context

    def get_mxnet_context(context):
        # keras-mxnet turns any 'cpu...' entry of a list into cpu(0); honour the index.
        if isinstance(context, (list, tuple)) and any(
            isinstance(c, str) and c.startswith("cpu(") for c in context
        ):
            if mxnet_backend._CURRENT_SCOPE_CTX:
                return mxnet_backend._CURRENT_SCOPE_CTX
            return [
                mx.cpu(int(c[4:-1])) if isinstance(c, str) and c.startswith("cpu(")
                else original_get_context([c])[0]
                for c in context
            ]
        return original_get_context(context)

    mxnet_backend._get_mxnet_context = get_mxnet_context

    # keras-mxnet stores channels_first convolution kernels as (out, in, *kernel), but Keras's
    # initializers compute Glorot's fans as if every kernel were (*kernel, in, out): LeNet's
    # first convolution drew from +-0.173 instead of +-0.107. Build such layers with the fans
    # of the layout they actually have.
    initializers = keras.initializers
    compute_fans = initializers._compute_fans
    conv_build = keras.layers.convolutional._Conv.build
    kernel_layout = []

    def fans(shape, data_format=None):
        return compute_fans(shape, data_format or (kernel_layout[-1] if kernel_layout
                                                   else "channels_last"))

    def build(self, input_shape):
        kernel_layout.append(self.data_format)
        try:
            conv_build(self, input_shape)
        finally:
            kernel_layout.pop()

    initializers._compute_fans = fans
    keras.layers.convolutional._Conv.build = build

    # Normalize the summed per-device gradients to the mean over the global batch (with
    # dist_sync, the servers also sum over the workers).
    model_cls = keras.models.Model
    module_init_optimizer = mx.mod.BucketingModule.init_optimizer

    def init_optimizer(self, kvstore="local", optimizer="sgd", optimizer_params=(("learning_rate", 0.01),),
                       force_init=False):
        if isinstance(optimizer, mx.optimizer.Optimizer) and getattr(optimizer, "_keras_model", False):
            if isinstance(kvstore, str) and kvstore.startswith("dist"):
                kvstore = mx.kv.create(kvstore)  # joins the group; tells the number of workers
            workers = 1
            if isinstance(kvstore, mx.kv.KVStore) and "dist" in kvstore.type and "_sync" in kvstore.type:
                workers = kvstore.num_workers
            optimizer.rescale_grad = 1.0 / (len(self._context) * workers)
        return module_init_optimizer(self, kvstore, optimizer, optimizer_params, force_init)

    mx.mod.BucketingModule.init_optimizer = init_optimizer
    original_compile = model_cls.compile

    def compile(self, optimizer, *args, **kwargs):
        kvstore = kwargs.pop("kvstore", None)
        original_compile(self, optimizer, *args, **kwargs)
        if kvstore is not None:
            self._kvstore = kvstore
        if isinstance(self.optimizer, mx.optimizer.Optimizer):
            self.optimizer._keras_model = True

    model_cls.compile = compile
    kvstore_set_optimizer = mx.kv.KVStore.set_optimizer

    def set_optimizer(self, optimizer):
        if getattr(optimizer, "_keras_model", False) and "dist" in self.type:
            optimizer = _as_mxnet(optimizer)  # pickled to the servers, which have no keras
        return kvstore_set_optimizer(self, optimizer)

    mx.kv.KVStore.set_optimizer = set_optimizer


def _import_keras():
    shim.import_mxnet()
    files.patch_yaml()
    files.patch_h5py()
    with warnings.catch_warnings(record=True) as caught:
        # keras/__init__.py sets an 'always' filter for DeprecationWarning, then warns of its
        # end of life: record that warning, drop the filter, and show the warning once.
        warnings.simplefilter("always")
        import keras
    for w in caught:
        if "discontinued" in str(w.message):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    _patch_keras(keras)
    shapes.patch(keras)
    weights.patch(keras)
    recurrent.patch(keras)
    batchnorm.patch(keras)
    convolution.patch(keras)
    padding.patch(keras)
    refusals.patch(keras)
    noise.patch(keras)
    identity.patch(keras)
    upsampling.patch(keras)
    losses.patch(keras)
    shape_memo.patch(keras)   # last: it keeps what the _get_shape of the patches above answers
    return keras


keras = _import_keras()
