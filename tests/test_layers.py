"""FusedBatchNormalization: the same numbers as Keras's BatchNormalization, faster, and it saves and loads."""

import keras
import numpy as np
import tensorflow as tf

from transferbench.layers import FusedBatchNormalization


def _normalise(layer_class, x, training):
    """Outputs, input and weight gradients of a nonlinear loss, and the moving statistics after one call."""
    keras.utils.set_random_seed(0)
    layer = layer_class(momentum=0.9)
    layer.build(x.shape)
    layer.gamma.assign(tf.random.normal((x.shape[-1],)))
    layer.beta.assign(tf.random.normal((x.shape[-1],)))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.sin(y) * tf.range(x.shape[-1], dtype=tf.float32))
    gradients = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return [y, *gradients, layer.moving_mean, layer.moving_variance]


def test_fused_batchnorm_matches_keras_in_training_and_inference():
    x = tf.random.stateless_normal((16, 5, 5, 8), seed=(1, 2)) * 3 + 1
    for training in (True, False):
        ours, theirs = (
            _normalise(cls, x, training) for cls in (FusedBatchNormalization, keras.layers.BatchNormalization)
        )
        for mine, reference in zip(ours, theirs):
            np.testing.assert_allclose(np.asarray(mine), np.asarray(reference), rtol=1e-4, atol=1e-4)
    trained = _normalise(FusedBatchNormalization, x, True)
    assert not np.allclose(trained[4], 0.0)  # the moving mean moved


def test_fused_batchnorm_saves_and_loads(tmp_path):
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, FusedBatchNormalization(name="bn")(inputs))
    x = np.random.default_rng(0).normal(size=(8, 4, 4, 3)).astype(np.float32)
    model(x, training=True)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer("bn"), FusedBatchNormalization)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
