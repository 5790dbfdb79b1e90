"""What can't be built on MXNet is refused at build, in one line naming the layer and what would
work (shim/refusals.py and the mends that refuse: shim/noise.py, shim/convolution.py)."""
import pytest

from shim.keras_mxnet import keras
from keras import layers


@pytest.mark.parametrize("layer, shape, words", [
    (lambda: layers.LocallyConnected1D(2, 3, name="local"), (6, 3), "Conv1D/Conv2D"),
    (lambda: layers.LocallyConnected2D(2, 3, name="local"), (5, 5, 2), "Conv1D/Conv2D"),
    (lambda: layers.SeparableConv1D(2, 3, name="local"), (6, 3), "SeparableConv2D on a"),
    (lambda: layers.Conv2DTranspose(2, 3, name="local"), (None, None, 3), "every spatial"),
], ids=["locally-connected-1d", "locally-connected-2d", "separable-conv1d",
        "transposed-unknown-size"])
def test_unsupported_layers_are_refused_naming_the_layer_and_what_builds(layer, shape, words):
    with pytest.raises((NotImplementedError, ValueError)) as refused:
        keras.models.Sequential([layers.InputLayer(shape), layer()])
    message = str(refused.value)
    assert "layer 'local'" in message and words in message and "\n" not in message
