"""The matrix-product form of 3x3 'same' convolutions on tiny maps equals the convolution, values and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferbench.small_conv import SmallMapConv, replaceable, with_fast_convs


@pytest.mark.parametrize("height, width", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_dense_form_equals_the_convolution(height, width):
    keras.utils.set_random_seed(0)
    conv = keras.layers.Conv2D(7, 3, padding="same", activation="relu")
    x = tf.constant(np.random.default_rng(0).normal(size=(5, height, width, 4)).astype(np.float32))
    conv.build(x.shape)
    assert replaceable(conv, x.shape)
    dense = SmallMapConv(conv, height, width)
    with tf.GradientTape(persistent=True) as tape:
        expected, got = conv(x), dense(x)
        loss_expected, loss_got = tf.reduce_sum(expected**2), tf.reduce_sum(got**2)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)
    for var in (conv.kernel, conv.bias):  # the dense form trains the convolution's own variables
        np.testing.assert_allclose(tape.gradient(loss_got, var), tape.gradient(loss_expected, var), atol=1e-4)
    assert {id(v) for v in dense.trainable_weights} == {id(conv.kernel), id(conv.bias)}


def test_only_small_plain_3x3_convolutions_are_replaced():
    conv = keras.layers.Conv2D(4, 3, padding="same")
    assert not replaceable(conv, (None, 3, 3, 4))
    assert not replaceable(keras.layers.Conv2D(4, 3, padding="valid"), (None, 2, 2, 4))
    assert not replaceable(keras.layers.Conv2D(4, 1, padding="same"), (None, 2, 2, 4))
    assert not replaceable(keras.layers.Conv2D(4, 3, strides=2, padding="same"), (None, 2, 2, 4))


def _residual_model():
    """A small non-chain graph: two 3x3 convolutions on a 2x2 map around a skip connection."""
    inputs = keras.Input(shape=(4, 4, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", name="big")(inputs)  # 4x4: stays a convolution
    x = keras.layers.MaxPooling2D(2)(x)
    y = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="small_a")(x)
    y = keras.layers.Conv2D(6, 3, padding="same", name="small_b")(y)
    outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([x, y]))
    return keras.Model(inputs, [y, outputs])


def test_a_graph_is_rebuilt_with_its_tiny_map_convolutions_as_matmuls():
    keras.utils.set_random_seed(1)
    model = _residual_model()
    fast = with_fast_convs(model)
    replaced = sorted(op.name for op in fast.operations if isinstance(op, SmallMapConv))
    assert replaced == ["small_a_as_matmul", "small_b_as_matmul"]
    assert {id(w) for w in fast.weights} == {id(w) for w in model.weights}  # the same variables, trained as one
    x = np.random.default_rng(1).normal(size=(3, 4, 4, 3)).astype(np.float32)
    for got, expected in zip(fast(x), model(x)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-5)
    again = with_fast_convs(model)  # its layers now have a second call site: the graph's own is used
    assert sum(isinstance(op, SmallMapConv) for op in again.operations) == 2


def test_a_graph_without_tiny_map_convolutions_is_returned_unchanged():
    inputs = keras.Input(shape=(8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, padding="same")(inputs))
    assert with_fast_convs(model) is model
