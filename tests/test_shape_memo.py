"""A tensor's inferred shape is computed once and is what MXNet infers; a graph changed in place
is inferred again (shim/shape_memo.py). The application cases of test_conformance.py check, on
whole models, that their pinned verdicts still hold with it."""
import ctypes

import mxnet as mx
import pytest
from mxnet.base import _LIB, SymbolHandle, check_call

from shim.keras_mxnet import keras

K = keras.backend


@pytest.fixture
def inferences(monkeypatch):
    """How many times MXNet's partial shape inference runs."""
    count = [0]
    infer = mx.sym.Symbol.infer_shape_partial

    def counted(self, *args, **kwargs):
        count[0] += 1
        return infer(self, *args, **kwargs)

    monkeypatch.setattr(mx.sym.Symbol, "infer_shape_partial", counted)
    return count


def a_tensor_without_a_keras_shape(width=3):
    x = K.placeholder(shape=(None, width))
    y = K.relu(K.concatenate([x, x * 2.0], axis=-1))
    assert not hasattr(y, "_keras_shape")   # so its shape is inferred over the graph
    return x, y


def test_a_shape_is_inferred_once_and_is_what_mxnet_infers(inferences):
    # Stock keras-mxnet ran the inference over the whole graph at every query.
    _, y = a_tensor_without_a_keras_shape()
    shapes = [y.shape]
    first = inferences[0]
    shapes += [K.ndim(y), K.int_shape(y), y.shape]
    assert inferences[0] == first
    assert shapes[0] == shapes[3] == tuple(mx.sym.Symbol.infer_shape_partial(y.symbol)[1][0])
    assert shapes[0] == (0, 6) and shapes[1] == 2


def test_each_learning_phase_gets_its_own_symbols_shape():
    _, y = a_tensor_without_a_keras_shape()
    assert y._train_sym is not y._pred_sym
    before = K.learning_phase()
    try:
        for phase in (1, 0, 1):
            K.set_learning_phase(phase)
            assert y.symbol is (y._train_sym if phase else y._pred_sym)
            assert y.shape == tuple(y.symbol.infer_shape_partial()[1][0]) == (0, 6)
    finally:
        K.set_learning_phase(before)


def test_a_graph_changed_in_place_is_inferred_again():
    # A kept shape would be wrong here: the variable's declared shape changes under the graph.
    x, y = a_tensor_without_a_keras_shape()
    assert y.shape == (0, 6)
    x.symbol._set_attr(__shape__="(0, 5)")
    assert y.shape == (0, 10) == tuple(y.symbol.infer_shape_partial()[1][0])


def test_a_symbol_pointed_at_another_graph_is_inferred_again():
    _, y = a_tensor_without_a_keras_shape()
    _, other = a_tensor_without_a_keras_shape(width=4)
    assert y.shape == (0, 6)
    handle = SymbolHandle()   # a copy of the other graph that only y's symbol will free
    check_call(_LIB.MXSymbolCopy(other.symbol.handle, ctypes.byref(handle)))
    y.symbol._set_handle(handle)   # y's symbol object now is that graph (its own is leaked)
    assert y.shape == (0, 8)


def test_a_keras_shape_set_later_wins_as_in_stock():
    _, y = a_tensor_without_a_keras_shape()
    assert y.shape == (0, 6)
    y._keras_shape = (None, 6)
    assert y.shape == (None, 6)
