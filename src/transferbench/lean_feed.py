"""Batches cut straight from NumPy arrays, for inputs too big to copy.

Keras's array adapter turns whole arrays into tensors before training: measured here, fitting a small
model on a 2.06 GiB float32 array raised peak memory by 3.8 GiB, and `tf.convert_to_tensor` alone by
4.2 GiB. Cached cut activations at 96 px (VGG16: 6x6x512 floats per image, 4.8 GiB for MNIST) would not
fit in 8 GiB that way, so arrays from LEAN_BYTES up are fed batch by batch instead. Where a graph gathers its
own batches (the head search), an aligned array (feature_cache.aligned_rows) becomes a tensor over the same memory
instead of a copy.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from .feature_cache import is_aligned

LEAN_BYTES = 256 * 2**20  # below this Keras's own adapter is used (its copy is cheap; results unchanged)
CHUNK_BYTES = 64 * 2**20  # input bytes per predict call on a large array


def tensor_view(array):
    """A tensor over the array's own memory (DLPack, no copy), or None when TensorFlow cannot use that memory as it
    is (is_aligned) or the array is read-only, as Ray's object store hands arrays out (the DLPack version TensorFlow
    reads cannot say read-only)."""
    if not (is_aligned(array) and array.flags.writeable):
        return None
    return tf.experimental.dlpack.from_dlpack(array.__dlpack__())


def is_large(*arrays):
    """Whether these arrays together are big enough to be fed without a whole-array copy."""
    return sum(np.asarray(a).nbytes for a in arrays) >= LEAN_BYTES


class ArrayBatches(keras.utils.PyDataset):
    """(x, y) batches gathered from NumPy arrays per step; reshuffled every epoch from a seeded generator."""

    def __init__(self, x, y, batch_size, *, shuffle, seed=0):
        super().__init__()
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.order = np.arange(len(x))
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()  # the first epoch's order

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        if self.shuffle:
            rows = self.order[rows]  # a gather; in order the slice itself is a view
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        if self.shuffle:
            self.rng.shuffle(self.order)


def predict_in_chunks(model, images, batch_size, callbacks=()):
    """model.predict over a large array, about CHUNK_BYTES of it per call (measured lean; feeding predict
    an ArrayBatches dataset was not: +2.2 GiB on a 2 GiB array)."""
    rows = max(batch_size, CHUNK_BYTES // max(1, images[:1].nbytes))
    parts = [
        model.predict(images[begin : begin + rows], batch_size=batch_size, verbose=0, callbacks=callbacks)
        for begin in range(0, len(images), rows)
    ]
    return np.concatenate(parts)
