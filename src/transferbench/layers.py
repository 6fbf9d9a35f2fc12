"""Small serialisable layers that put input handling inside every saved model."""

import keras
from keras import ops

PREPROCESS_MODES = ("caffe", "tf", "torch", "unit", "none")


@keras.saving.register_keras_serializable(package="transferbench")
class ToRGB(keras.layers.Layer):
    """Repeat a single grayscale channel three times; pass 3-channel images through."""

    def call(self, images):
        """Tile the channel axis when it has size 1."""
        if images.shape[-1] == 1:
            return ops.concatenate([images, images, images], axis=-1)
        return images

    def compute_output_shape(self, input_shape):
        """Same shape with 3 channels."""
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package="transferbench")
class Preprocess(keras.layers.Layer):
    """Map RGB pixels in 0..255 to what a model expects.

    ``caffe``/``tf``/``torch`` call ``keras.applications.imagenet_utils.preprocess_input`` with that mode
    (the modes of VGG16/ResNet50, MobileNetV2 and DenseNet); ``unit`` scales to [0, 1] (the scratch CNN and
    the seed's input for every model); ``none`` passes pixels through (models that preprocess inside).
    """

    def __init__(self, mode, **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESS_MODES:
            raise ValueError(f"mode must be one of {PREPROCESS_MODES}, got {mode!r}")
        self.mode = mode

    def call(self, images):
        """Apply the preprocessing of this layer's mode."""
        images = ops.cast(images, self.compute_dtype)
        if self.mode == "unit":
            return images / 255.0
        if self.mode == "none":
            return images
        return keras.applications.imagenet_utils.preprocess_input(images, mode=self.mode)

    def get_config(self):
        """Serialise the mode."""
        return {**super().get_config(), "mode": self.mode}
