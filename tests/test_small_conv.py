"""The matrix-product form of 3x3 'same' convolutions on tiny maps equals the convolution, values and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferbench.small_conv import DenseSmallConv, replaceable


@pytest.mark.parametrize("height, width", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_dense_form_equals_the_convolution(height, width):
    keras.utils.set_random_seed(0)
    conv = keras.layers.Conv2D(7, 3, padding="same", activation="relu")
    x = tf.constant(np.random.default_rng(0).normal(size=(5, height, width, 4)).astype(np.float32))
    conv.build(x.shape)
    assert replaceable(conv, x.shape)
    dense = DenseSmallConv(conv, height, width)
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
