"""Every backbone of the registry: builds, freezes, unfreezes at its cut point, preprocesses like Keras."""

import importlib

import keras
import numpy as np
import pytest

from transferbench.backbones import BACKBONES
from transferbench.layers import Preprocess
from transferbench.modeling import (
    build_base,
    build_transfer_model,
    choose_weights,
    count_params,
    find_base,
    unfreeze_after_cut,
)
from transferbench.scratch import build_cnn
from transferbench.training import compile_model

SPECS = list(BACKBONES.values())


def _model(spec, size=32, raw_shape=(28, 28, 1)):
    """A random-weight transfer model for a backbone."""
    base = build_base(spec, size, choose_weights(spec, "random"))
    return build_transfer_model(spec, base, raw_shape=raw_shape, num_classes=10)


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec, size",
    [(spec, 32) for spec in SPECS] + [(BACKBONES[name], 48) for name in ("vgg16", "resnet50", "mobilenetv2")],
    ids=lambda value: value.name if hasattr(value, "name") else str(value),
)
def test_builds_at_input_size_with_ten_outputs(spec, size):
    model, _ = _model(spec, size)
    out = model.predict(np.zeros((3, 28, 28, 1), np.uint8), verbose=0)
    assert out.shape == (3, 10)
    assert find_base(model).input_shape[1:3] == (size, size)
    assert find_base(model).count_params() == spec.params  # what `transferbench list` shows
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_frozen_model_trains_only_the_head(spec):
    model, head = _model(spec)
    head_trainable = sum(int(np.prod(w.shape)) for w in head.trainable_weights)
    assert count_params(model)["trainable_params"] == head_trainable > 0
    assert not any(w.trainable for w in find_base(model).weights)


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_unfreezing_trains_exactly_the_layers_after_the_cut(spec):
    model, _ = _model(spec)
    base = find_base(model)
    names = [layer.name for layer in base.layers]
    unfrozen = unfreeze_after_cut(base, spec.cut_after)
    after_cut = base.layers[names.index(spec.cut_after) + 1 :]
    trains = [l for l in after_cut if not isinstance(l, keras.layers.BatchNormalization)]
    assert unfrozen == [l.name for l in trains if l.weights]
    assert unfrozen and all(not isinstance(base.get_layer(n), keras.layers.BatchNormalization) for n in unfrozen)
    for layer in base.layers:
        assert layer.trainable == (layer in trains)
    trainable_ids = {id(w) for w in model.trainable_weights}
    for layer in base.layers:
        for w in layer.trainable_weights:
            assert (id(w) in trainable_ids) == (layer.name in unfrozen)


def _eager_training_step(model, x, y):
    """One optimizer step as `fit` takes it (model called with training=True), run eagerly: nothing to trace."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    model.optimizer.apply(grads, model.trainable_weights)


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec", [s for s in SPECS if s.name not in ("vgg16", "convnexttiny")], ids=lambda s: s.name
)  # no BatchNormalization in VGG16; ConvNeXt uses LayerNorm
def test_batchnorm_stays_in_inference_mode_when_fine_tuning(spec):
    model, _ = _model(spec)
    base = find_base(model)
    unfreeze_after_cut(base, spec.cut_after)
    compile_model(model, 1e-3)
    names = [layer.name for layer in base.layers]
    bns = [l for l in base.layers[names.index(spec.cut_after) + 1 :] if isinstance(l, keras.layers.BatchNormalization)]
    assert bns, "a backbone with BN must have BN layers after the cut"
    before = [keras.ops.convert_to_numpy(l.moving_mean) for l in bns]
    trained = base.get_layer(unfreeze_after_cut(base, spec.cut_after)[0])
    kernel_before = keras.ops.convert_to_numpy(trained.weights[0])
    x = np.random.default_rng(0).integers(0, 255, (8, 28, 28, 1)).astype(np.uint8)
    _eager_training_step(model, x, np.arange(8) % 10)
    assert not np.array_equal(keras.ops.convert_to_numpy(trained.weights[0]), kernel_before)
    for layer, mean in zip(bns, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_mean), mean)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_preprocessing_equals_keras_preprocess_input(spec):
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    reference = importlib.import_module(f"keras.applications.{spec.module}").preprocess_input(pixels.copy())
    ours = np.array(Preprocess(spec.preprocess)(pixels))
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-4)


def test_seed_preprocessing_gives_unit_range():
    pixels = np.array([[[[0.0, 127.5, 255.0]]]], np.float32)
    np.testing.assert_allclose(np.array(Preprocess("unit")(pixels)), [[[[0.0, 0.5, 1.0]]]])


def test_scratch_cnn_is_the_seed_architecture():
    model = build_cnn(raw_shape=(28, 28, 1), num_classes=10)
    kinds = [
        type(l).__name__
        for l in model.layers
        if type(l).__name__ not in ("InputLayer", "Resizing", "ToRGB", "Preprocess")
    ]
    assert kinds == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert model.get_layer("conv1").input.shape[1:] == (32, 32, 3)
    assert model.count_params() == 2_193_226


def test_cnn_modern_has_batchnorm_augmentation_and_is_deterministic_at_inference():
    from transferbench.scratch import build_cnn_modern, cosine_schedule, modern_batch_size

    model = build_cnn_modern(raw_shape=(28, 28, 1), num_classes=10)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"FusedBatchNormalization", "RandomTranslation", "RandomRotation"} <= kinds
    assert all(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers if "_bn" in layer.name)
    assert model.count_params() == 1_284_938
    x = np.random.default_rng(0).integers(0, 255, (4, 28, 28, 1)).astype(np.uint8)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    schedule = cosine_schedule(3e-3, 100)
    rates = [float(schedule(step)) for step in (0, 10, 55, 100)]
    assert rates[0] < rates[1] == pytest.approx(3e-3) and rates[1] > rates[2] > rates[3] and rates[3] < 1e-6
    assert modern_batch_size(128, 90) == 8 and modern_batch_size(128, 54_000) == 128
