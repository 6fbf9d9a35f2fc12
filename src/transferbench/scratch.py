"""The from-scratch baseline: the seed's CNN, fed the same raw images as every other model."""

import keras

from .modeling import input_front


def build_cnn(*, raw_shape, num_classes, input_size=32):
    """The seed's CNN (3 conv blocks, Dense 256, Dropout 0.5) on [0, 1] RGB input of input_size."""
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
