"""Large arrays are fed batch by batch: every row once per epoch, deterministic, same predictions."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from transferbench import feature_cache, lean_feed
from transferbench.evaluate import predict_probabilities
from transferbench.training import fit


@pytest.mark.parametrize("shape", [(40, 7), (40, 3, 2, 5)])  # pooled features, cut activations
def test_aligned_rows_are_the_rows_and_a_tensor_shares_their_memory(shape):
    array = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    rows = np.array([3, 0, 39, 3, 17])
    gathered = feature_cache.aligned_rows(array, rows)
    np.testing.assert_array_equal(gathered, array[rows])
    assert gathered.ctypes.data % feature_cache.ALIGNMENT == 0 and gathered.flags.c_contiguous
    shared = lean_feed.tensor_view(gathered)
    gathered[1] = 42.0  # seen through the tensor: it is the same memory, not a copy
    assert float(tf.reduce_min(shared[1])) == 42.0
    unaligned = np.empty(array.size + 1, np.float32)[1:].reshape(shape)
    unaligned[:] = array
    assert lean_feed.tensor_view(unaligned) is None  # TensorFlow cannot use this memory as it is
    assert lean_feed.tensor_view(gathered[:, ::2]) is None  # nor a strided view
    gathered.flags.writeable = False  # as Ray's object store hands arrays out
    assert lean_feed.tensor_view(gathered) is None
    for index in (slice(5, 30), np.arange(len(array)) % 3 == 0, [-1, 0]):  # as NumPy reads them
        np.testing.assert_array_equal(feature_cache.aligned_rows(array, index), array[index])
    with pytest.raises(IndexError, match="out of bounds"):
        feature_cache.aligned_rows(array, [40])


def test_batches_cover_every_row_once_per_epoch_and_reshuffle():
    x, y = np.arange(50)[:, None] * np.ones((1, 3)), np.arange(50)
    batches = lean_feed.ArrayBatches(x, y, 16, shuffle=True, seed=1)
    assert len(batches) == 4

    def epoch():
        seen = [batches[i] for i in range(len(batches))]
        assert all(np.array_equal(bx[:, 0], by) for bx, by in seen)  # images stay with their labels
        return np.concatenate([by for _, by in seen])

    first = epoch()
    batches.on_epoch_end()
    second = epoch()
    assert sorted(first) == sorted(second) == list(range(50)) and not np.array_equal(first, second)
    again = lean_feed.ArrayBatches(x, y, 16, shuffle=True, seed=1)
    assert np.array_equal(np.concatenate([again[i][1] for i in range(4)]), first)
    ordered = lean_feed.ArrayBatches(x, y, 16, shuffle=False)
    assert np.array_equal(np.concatenate([ordered[i][1] for i in range(4)]), np.arange(50))


def _train_once(x, y):
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    record = fit(model, (x[:240], y[:240]), (x[240:], y[240:]), epochs=4, batch_size=32, patience=0)
    return model, record


def test_fit_on_the_lean_feed_learns_and_is_deterministic(monkeypatch):
    monkeypatch.setattr(lean_feed, "LEAN_BYTES", 0)  # every array counts as large
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = (rng.normal(size=(300, 8)) + 3 * np.eye(8)[y]).astype(np.float32)  # three separable blobs
    model, record = _train_once(x, y)
    losses = record["history"]["loss"]
    assert record["epochs_run"] == 4 and losses[-1] < losses[0] / 2
    assert (model.predict(x[240:], verbose=0).argmax(1) == y[240:]).mean() > 0.9
    _, again = _train_once(x, y)
    assert again["history"] == record["history"]


def test_chunked_prediction_equals_one_predict_call(monkeypatch):
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(), keras.layers.Dense(5, "softmax")])
    images = np.random.default_rng(1).normal(size=(103, 4, 4, 2)).astype(np.float32)
    whole = predict_probabilities(model, images, batch_size=8)
    monkeypatch.setattr(lean_feed, "LEAN_BYTES", 0)
    monkeypatch.setattr(lean_feed, "CHUNK_BYTES", 20 * images[:1].nbytes)  # 20-row chunks, 6 calls
    np.testing.assert_allclose(predict_probabilities(model, images, batch_size=8), whole, rtol=1e-6)
