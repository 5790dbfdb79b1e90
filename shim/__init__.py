"""What both implementations share, and what makes keras-mxnet work on today's Python.

- `shim.keras_mxnet`: `from shim.keras_mxnet import keras` gives keras-mxnet 2.2.4.3, patched in
  memory to import and train on Python 3.11 (MXNet backend; Keras's defaults otherwise kept).
- `shim.contexts`: the context specs (`cpu`, `cpu:0-3`, `gpu:0,2`) that bench.py, Keras and
  Gluon all read.
- `shim.gpu`: the GPU preflight and the loading of pip's CUDA 11 libraries.
- `shim.precision`: `--dtype bfloat16`, MXNet's AMP set up the same way for both sides.
- `shim.arrays`: host arrays into MXNet without leaving an OpenMP team on the Python thread,
  which would slow every operator after it.
- `shim.recurrent`: keras-mxnet's default recurrent layers made to use their weights (applied by
  `shim.keras_mxnet`).
- `shim.shapes`: the shape (and rank) of a tensor MXNet can't infer with an unknown batch
  (applied by `shim.keras_mxnet`).
- `shim.shape_memo`: a tensor's inferred shape kept until its graph changes, not inferred over
  the whole graph at every query: performance only (applied by `shim.keras_mxnet`).
- `shim.weights`: one value per Keras variable, whichever model trained it last (applied by
  `shim.keras_mxnet`).
- `shim.batchnorm`: keras-mxnet's BatchNormalization made to compute Keras's function (applied
  by `shim.keras_mxnet`).
- `shim.convolution`: keras-mxnet's transposed convolutions made to run and crop as Keras's
  (applied by `shim.keras_mxnet`).
- `shim.noise`: random tensors shaped like a tensor, training-only noise, dropout's noise_shape
  (applied by `shim.keras_mxnet`).
- `shim.padding`: padding='same' placed as Keras places it (applied by `shim.keras_mxnet`).
- `shim.identity`, `shim.losses`, `shim.upsampling`: K.identity of a graph tensor, binary
  cross-entropy and bilinear UpSampling2D as Keras computes them (applied by `shim.keras_mxnet`).
- `shim.refusals`: what can't be built on MXNet is refused naming the layer and what would work
  (applied by `shim.keras_mxnet`).
- `shim.fused`: opt-in only (`fused.enable()`), the fused path: a Keras model's graph built from
  MXNet's fused operators, computing the same function (one module per fix).

Importing `shim` itself is cheap (no keras, no mxnet), so the Gluon side never pays for Keras.
"""
import collections
import collections.abc

from shim.gpu.libraries import add_cuda_library_paths

# Python 3.10 removed these aliases; keras 2.2.4 (and some of its dependencies) still use them.
for _name in ("Iterable", "Mapping", "MutableMapping", "Sequence", "Callable"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))


def import_mxnet():
    """Import mxnet after making pip's CUDA 11 libraries loadable (a no-op on CPU builds)."""
    add_cuda_library_paths()
    import mxnet  # here, not above: importing shim stays cheap

    return mxnet


def mxnet_backend():
    """keras-mxnet's backend module, for the modules that patch it; imported on first use, so
    that importing shim stays cheap."""
    from keras.backend import mxnet_backend as backend

    return backend
