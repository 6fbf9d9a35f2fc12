"""An exact, faster form of a 3x3 'same' convolution on tiny feature maps (e.g. VGG16 block 5 at 2x2).

On an H x W map with H, W <= 2, every input pixel lies inside every output pixel's 3x3 window, so the
convolution is one matrix product: (B, H*W*Cin) @ (H*W*Cin, H*W*Cout), the matrix gathered from the same
3x3 kernel. That skips the taps that only see zero padding (5 of 9 at 2x2) and runs as a dense matmul,
which this CPU does several times faster than the convolution kernel. The layer wraps the original
Conv2D and uses its variables, so training it trains the full model's convolution.
"""

import itertools

import keras
import numpy as np
from keras import ops


def tap_selector(height, width):
    """One-hot (H, W, H, W, 3, 3): input pixel (p, q), output pixel (i, j) -> kernel tap (p-i+1, q-j+1)."""
    selector = np.zeros((height, width, height, width, 3, 3), np.float32)
    for p, q, i, j in itertools.product(range(height), range(width), range(height), range(width)):
        a, b = p - i + 1, q - j + 1
        if 0 <= a < 3 and 0 <= b < 3:
            selector[p, q, i, j, a, b] = 1.0
    return selector


def replaceable(layer, input_shape):
    """True when `layer` is a 3x3, stride-1, 'same', undilated Conv2D on a map of at most 2 x 2."""
    return (
        isinstance(layer, keras.layers.Conv2D)
        and not isinstance(layer, keras.layers.DepthwiseConv2D)
        and tuple(layer.kernel_size) == (3, 3)
        and tuple(layer.strides) == (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.padding == "same"
        and layer.groups == 1
        and input_shape[1] <= 2
        and input_shape[2] <= 2
    )


class DenseSmallConv(keras.layers.Layer):
    """The convolution of a wrapped Conv2D, computed as one matrix product (exact up to float rounding)."""

    def __init__(self, conv, height, width, **kwargs):
        super().__init__(name=f"{conv.name}_as_matmul", **kwargs)
        self.conv = conv
        self.height, self.width = height, width
        self.selector = tap_selector(height, width)

    def call(self, x):
        """Gather the kernel into the dense matrix and apply it, then the bias and activation."""
        kernel = self.conv.kernel  # (3, 3, Cin, Cout)
        cin, cout = kernel.shape[2], kernel.shape[3]
        dense = ops.einsum("pqijab,abco->pqcijo", self.selector, kernel)
        dense = ops.reshape(dense, (self.height * self.width * cin, self.height * self.width * cout))
        flat = ops.reshape(x, (-1, self.height * self.width * cin))
        y = ops.reshape(ops.matmul(flat, dense), (-1, self.height, self.width, cout))
        if self.conv.use_bias:
            y = y + self.conv.bias
        return self.conv.activation(y)

    def compute_output_shape(self, input_shape):
        """Same spatial size, the wrapped convolution's filters."""
        return (input_shape[0], self.height, self.width, self.conv.filters)


def fast_upper(base, cut_after):
    """The layers of `base` after `cut_after` as a model from cut activations, with tiny-map 3x3
    convolutions replaced by DenseSmallConv; None unless that part is a plain chain of layers."""
    names = [layer.name for layer in base.layers]
    after = base.layers[names.index(cut_after) + 1 :]
    previous = base.get_layer(cut_after)
    for layer in after:  # a chain: each layer's only input is the previous layer's output
        single = not isinstance(layer.input, (list, tuple)) and len(layer._inbound_nodes) == 1
        if not single or layer.input is not previous.output:
            return None
        previous = layer
    if not any(replaceable(layer, layer.input.shape) for layer in after):
        return None
    inputs = keras.Input(shape=base.get_layer(cut_after).output.shape[1:], name="cut")
    x = inputs
    for layer in after:
        shape = layer.input.shape
        x = DenseSmallConv(layer, shape[1], shape[2])(x) if replaceable(layer, shape) else layer(x)
    return keras.Model(inputs, x, name=f"{base.name}_top_fast")
