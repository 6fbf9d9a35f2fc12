"""Models trained from scratch, and their registry: the course's CNN and a stronger modern baseline."""

from dataclasses import dataclass

import keras

from .layers import FusedBatchNormalization
from .modeling import input_front


def build_cnn(*, raw_shape, num_classes, input_size=32):
    """The course's CNN (3 conv blocks, Dense 256, Dropout 0.5) on [0, 1] RGB input of input_size."""
    inputs, x = input_front(raw_shape, input_size, "unit")
    x = keras.layers.Conv2D(32, 3, activation="relu", padding="same", name="conv1")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(64, 3, activation="relu", padding="same", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Conv2D(128, 3, activation="relu", padding="same", name="conv3")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(256, activation="relu", name="dense_256")(x)
    x = keras.layers.Dropout(0.5, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name="cnn")


def _conv_bn(x, filters, name):
    """3x3 convolution, BatchNormalization, ReLU."""
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = FusedBatchNormalization(momentum=0.9, name=f"{name}_bn")(x)  # moving stats settle in ~50 steps
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def build_cnn_modern(*, raw_shape, num_classes):
    """A stronger scratch baseline at about the course CNN's cost per step (augmentation, BatchNormalization,
    cosine schedule) at the images' own size; so "transfer beats scratch" is not claimed against a weak CNN.
    Its design measurements are in docs/scratch-models.md."""
    inputs = keras.Input(shape=raw_shape, name="image")
    x = keras.layers.Rescaling(1 / 255, name="unit")(inputs)
    x = keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", name="shift")(x)
    x = keras.layers.RandomRotation(0.05, fill_mode="constant", name="rotate")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="block1_conv")(x)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = _conv_bn(x, 48, "block2a")
    x = _conv_bn(x, 48, "block2b")
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = _conv_bn(x, 96, "block3")
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(256, use_bias=False, name="dense_256")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="dense_bn")(x)
    x = keras.layers.ReLU(name="dense_relu")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name="cnn_modern")


def cosine_schedule(peak, steps, warmup_fraction=0.1):
    """Linear warm-up to `peak` over the first 10% of steps, then cosine decay to 0 (a one-cycle shape)."""
    warmup = max(1, int(steps * warmup_fraction))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 100,
        decay_steps=max(1, steps - warmup),
        warmup_target=peak,
        warmup_steps=warmup,
        alpha=0.0,
    )


def modern_batch_size(requested, train_size):
    """cnn_modern's batch size: the requested one, made smaller on small data so an epoch has >= 20 steps
    (BatchNormalization's moving statistics need steps to settle; with 90 images one batch is an epoch)."""
    return max(8, min(requested, train_size // 20))


@dataclass(frozen=True)
class ScratchSpec:
    """Facts about one model trained from scratch: its builder, how it is trained, and a one-line note."""

    name: str
    build: object  # (raw_shape, num_classes, input_size) -> keras.Model
    schedule: str  # "constant": Adam at --cnn-lr; "cosine": warm-up to peak_lr then cosine decay
    note: str
    peak_lr: float | None = None
    batch_rule: str = "config"  # "config": --batch-size; "steps": smaller batches so an epoch has >= 20 steps


SCRATCH_MODELS = {
    spec.name: spec
    for spec in (
        ScratchSpec(
            "cnn",
            lambda raw_shape, num_classes, input_size: build_cnn(
                raw_shape=raw_shape, num_classes=num_classes, input_size=input_size
            ),
            "constant",
            "the course's CNN (3 conv, Dense 256, Dropout 0.5), resized to --input-size, Adam --cnn-lr",
        ),
        ScratchSpec(
            "cnn_modern",
            lambda raw_shape, num_classes, input_size: build_cnn_modern(raw_shape=raw_shape, num_classes=num_classes),
            "cosine",
            "BatchNorm + shifts/rotations, cosine lr (peak 3e-3), 32/48,48/96 + dense 256, images' own size",
            peak_lr=3e-3,
            batch_rule="steps",
        ),
    )
}
