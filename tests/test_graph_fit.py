"""Many steps per graph call: the same training as Keras's fit, callbacks honoured, stop requests obeyed."""

import keras
import numpy as np
import pytest
from conftest import three_classes

from transferbench import graph_fit, interrupts, lean_feed
from transferbench.training import compile_model, fit


def _head(dim=12):
    keras.utils.set_random_seed(3)  # same initial weights and the same dropout seeds in every call
    inputs = keras.Input((dim,))
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.Dropout(0.3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    compile_model(model, 0.01)
    return model


@pytest.mark.parametrize("shuffle", [False, True])
def test_the_same_training_as_keras_fit(shuffle):
    train, val = three_classes()
    reference = _head()
    history = reference.fit(*train, validation_data=val, epochs=3, batch_size=32, shuffle=shuffle, verbose=0)
    model = _head()
    ours = graph_fit.fit_in_graph(model, train, val, epochs=3, batch_size=32, shuffle=shuffle, verbose=0)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(ours.history[key], history.history[key], rtol=1e-5, atol=1e-6)
    for mine, theirs in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_shuffled_training_learns_and_is_deterministic_per_seed():
    train, val = three_classes()
    runs = []
    for _ in range(2):
        model = _head()
        record = fit(model, train, val, epochs=6, batch_size=32, patience=0, in_graph=True)
        runs.append((record, model.get_weights()))
    (first, weights), (second, again) = runs
    assert first["history"] == second["history"] and all(np.array_equal(a, b) for a, b in zip(weights, again))
    assert first["epochs_run"] == 6 and first["history"]["val_accuracy"][-1] > 0.7
    assert first["history"]["loss"][-1] < first["history"]["loss"][0]


def test_early_stopping_restores_the_best_epoch():
    train, val = three_classes()
    model = _head()
    compile_model(model, 0.5)  # far too high: validation loss soon stops improving
    record = fit(model, train, val, epochs=40, batch_size=32, patience=2, in_graph=True)
    assert record["epochs_run"] < 40
    best = min(record["history"]["val_loss"])
    assert model.evaluate(*val, verbose=0, return_dict=True)["loss"] == pytest.approx(best, rel=1e-4)


def test_a_stop_request_ends_training_after_the_current_chunk(monkeypatch):
    monkeypatch.setattr(graph_fit, "CHUNK_STEPS", 2)
    train, val = three_classes()
    seen = []

    class AskToStop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)
            interrupts._state["requested"] = True

    with interrupts.handling(), pytest.raises(KeyboardInterrupt):
        fit(_head(), train, val, epochs=5, batch_size=32, patience=0, callbacks=[AskToStop()], in_graph=True)
    assert seen == [1]  # one chunk of two batches, then stopped


def test_large_arrays_still_go_through_the_lean_feed(monkeypatch):
    monkeypatch.setattr(lean_feed, "LEAN_BYTES", 0)
    monkeypatch.setattr(graph_fit, "fit_in_graph", lambda *a, **k: pytest.fail("large arrays were copied"))
    train, val = three_classes()
    assert fit(_head(), train, val, epochs=1, batch_size=32, patience=0, in_graph=True)["epochs_run"] == 1


def test_the_copied_arrays_and_traced_functions_are_dropped_after_training(monkeypatch):
    made = []
    original = graph_fit._Steps
    monkeypatch.setattr(graph_fit, "_Steps", lambda *args: made.append(original(*args)) or made[-1])
    train, val = three_classes()
    graph_fit.fit_in_graph(_head(), train, val, epochs=1, batch_size=32, verbose=0)
    assert made and made[0].x is None and made[0].val_x is None and made[0].train_range is None
