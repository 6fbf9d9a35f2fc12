"""The side-by-side head search: Keras's Adam update, Keras's fit for one candidate, early stopping per candidate."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import three_classes

from transferbench import feature_cache, head_search
from transferbench.head_search import FusedAdam, HeadSearch, RateDrop, chain_parts
from transferbench.recipes import cosine_rate
from transferbench.training import compile_model


def _head(dim=12):
    keras.utils.set_random_seed(3)  # same initial weights and dropout seeds in every call
    inputs = keras.Input((dim,))
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.Dropout(0.3)(inputs))
    hidden = keras.layers.BatchNormalization()(hidden)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden), name="head")


@pytest.mark.parametrize("variable", [keras.Variable, tf.Variable])  # a head's weights, or plain TensorFlow's
def test_fused_adam_makes_keras_adams_update(variable):
    rng = np.random.default_rng(1)
    start = rng.normal(size=(5, 4)).astype(np.float32)
    ours, theirs = variable(start), keras.Variable(start)
    fused = FusedAdam([ours], 0.01)
    reference = keras.optimizers.Adam(0.01)
    for _ in range(6):
        grad = rng.normal(size=(5, 4)).astype(np.float32)
        fused.apply([grad])
        reference.apply([grad], [theirs])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours.numpy(), start)


@pytest.mark.parametrize("chunk_rows", [8192, 64])  # one chunk an epoch, or seven
def test_one_candidate_trains_as_keras_fit(monkeypatch, chunk_rows):
    monkeypatch.setattr(head_search, "CHUNK_ROWS", chunk_rows)
    train, val = three_classes(400)
    reference = _head()
    compile_model(reference, 0.01)
    history = reference.fit(*train, validation_data=val, epochs=4, batch_size=32, shuffle=True, verbose=0)
    head = _head()
    search = HeadSearch(head, (0.01,), epochs=4, patience=0, batch_size=32, verbose=False).fit(train, val)
    record = search.record()
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(record["history"][key], history.history[key], rtol=1e-4, atol=1e-5)
    for mine, theirs in zip(head.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    assert record["lr_grid"] is None and record["epochs_run"] == record["best_epoch"] == 4


def test_a_cosine_decay_trains_as_keras_fit_with_the_same_schedule_and_ends_at_zero():
    train, val = three_classes(400)
    reference = _head()
    compile_model(reference, 0.05)
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch: cosine_rate(0.05, epoch, 4))
    history = reference.fit(*train, validation_data=val, epochs=4, batch_size=32, callbacks=[scheduler], verbose=0)
    head = _head()
    search = HeadSearch(head, (0.05,), epochs=4, patience=0, batch_size=32, decay="cosine", verbose=False)
    record = search.fit(train, val).record()
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(record["history"][key], history.history[key], rtol=1e-4, atol=1e-5)
    constant = HeadSearch(_head(), (0.05,), epochs=4, patience=0, batch_size=32, verbose=False).fit(train, val)
    assert not np.allclose(constant.record()["history"]["loss"][1:], record["history"]["loss"][1:], rtol=1e-4)
    assert float(search.candidates_[0].optimizer.rate.numpy()) == 0.0 and record["learning_rate"] == 0.05
    with pytest.raises(ValueError, match="cosine cannot be used with rate_drop"):
        HeadSearch(head, (0.05,), epochs=4, patience=0, batch_size=32, decay="cosine", rate_drop=RateDrop())


def test_each_candidate_keeps_its_own_early_stopping_and_the_best_one_wins():
    train, val = three_classes(400)
    head = _head()
    initial = head.get_weights()
    rates = (1e-4, 0.05, 1.0)
    search = HeadSearch(head, rates, epochs=40, patience=3, batch_size=32, verbose=False).fit(train, val)
    for candidate in search.candidates_:
        losses = candidate.history["val_loss"]
        assert candidate.best_loss == pytest.approx(min(losses))
        assert candidate.best_epoch == int(np.argmin(losses)) + 1
        assert candidate.epochs_run == min(40, candidate.best_epoch + 3), candidate.learning_rate
    assert len({c.epochs_run for c in search.candidates_}) > 1  # they ended at different epochs
    record = search.record()
    assert record["lr_grid"] == {f"{c.learning_rate:g}": c.best_loss for c in search.candidates_}
    assert record["lr_epochs"] == {f"{c.learning_rate:g}": c.epochs_run for c in search.candidates_}
    assert record["learning_rate"] == float(min(record["lr_grid"], key=record["lr_grid"].get))
    # the head now holds the winner's best weights: its validation loss is the winner's best
    compile_model(head, 0.01)
    assert head.evaluate(*val, verbose=0)[0] == pytest.approx(search.best_.best_loss, rel=1e-4)
    assert any(not np.allclose(a, b) for a, b in zip(head.get_weights(), initial))


def test_a_race_keeps_only_the_leader_after_its_epochs():
    train, val = three_classes(400)
    search = HeadSearch(_head(), (1e-4, 0.05, 1.0), epochs=12, patience=0, batch_size=32, race_after=2, verbose=False)
    search.fit(train, val)
    at_cut = {c.learning_rate: c.history["val_loss"][1] for c in search.candidates_}  # patience 0: the last counts
    leader = min(at_cut, key=at_cut.get)
    assert search.best_.learning_rate == leader
    assert {c.learning_rate: c.epochs_run for c in search.candidates_} == {r: 12 if r == leader else 2 for r in at_cut}


def _rates_after_drops(val_losses, start, drop):
    """The rate a RateDrop schedule holds after each epoch of this validation-loss history, replayed by hand."""
    rate, best, stale, rates = start, np.inf, 0, []
    for loss in val_losses:
        stale = 0 if loss < best else stale + 1
        best = min(best, loss)
        if stale >= drop.patience and rate > drop.min_rate * 1.0001:
            rate, stale = max(rate * drop.factor, drop.min_rate), 0
        rates.append(rate)
    return rates


def test_a_rate_drop_cuts_the_rate_after_stale_epochs_down_to_its_floor():
    train, val = three_classes(400)
    drop = RateDrop(patience=1, factor=0.5, min_rate=0.05)
    search = HeadSearch(_head(), (0.4,), epochs=15, patience=0, batch_size=32, rate_drop=drop, verbose=False)
    candidate = search.fit(train, val).candidates_[0]
    expected = _rates_after_drops(candidate.history["val_loss"], 0.4, drop)
    assert expected[-1] < 0.4  # the history had stale epochs, so the schedule was exercised
    assert float(candidate.optimizer.rate.numpy()) == pytest.approx(expected[-1])
    assert candidate.learning_rate == 0.4  # the candidate is still named by its starting rate


def test_candidates_train_on_one_shared_input_mask():
    # two candidates with the same rate see the same batches and the same dropped-out inputs, so they train alike,
    # and both as Keras's fit trains the head alone
    train, val = three_classes(400)
    reference = _head()
    compile_model(reference, 0.01)
    history = reference.fit(*train, validation_data=val, epochs=3, batch_size=32, shuffle=True, verbose=0)
    search = HeadSearch(_head(), (0.01, 0.01), epochs=3, patience=0, batch_size=32, verbose=False).fit(train, val)
    for candidate in search.candidates_:
        np.testing.assert_allclose(candidate.history["loss"], history.history["loss"], rtol=1e-4, atol=1e-5)
        for mine, theirs in zip(candidate.head.get_weights(), reference.get_weights()):
            np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    # the earlier way, kept for measuring: each candidate draws its own masks, so the twins part
    own = HeadSearch(_head(), (0.01, 0.01), epochs=3, patience=0, batch_size=32, shared_mask=False, verbose=False)
    first, second = own.fit(train, val).candidates_
    assert first.history["loss"] != second.history["loss"]


def test_batches_gathered_in_the_graph_train_as_batches_gathered_by_numpy(monkeypatch):
    # the same batches either way, so the same search to the last digit; the shared features are left as they were
    monkeypatch.setattr(head_search, "CHUNK_ROWS", 64)  # several chunks an epoch, the last one short
    (x, y), (val_x, val_y) = three_classes(500)
    train, val = (
        (feature_cache.aligned_rows(x, np.arange(len(x))), y),
        (feature_cache.aligned_rows(val_x, [0, 5, 9]), val_y[[0, 5, 9]]),
    )
    before = train[0].copy()
    runs = [
        HeadSearch(_head(), (1e-3, 0.05), epochs=3, patience=0, batch_size=32, gather_in_graph=g, verbose=False).fit(
            train, val
        )
        for g in (True, False)
    ]
    assert [run.gathered_in_graph_ for run in runs] == [True, False]
    unaligned = HeadSearch(_head(), (1e-3,), epochs=1, patience=0, batch_size=32, verbose=False)
    assert not unaligned.fit((np.asfortranarray(train[0]), y), val).gathered_in_graph_  # not C-ordered: NumPy
    read_only = feature_cache.aligned_rows(x, np.arange(len(x)))
    read_only.flags.writeable = False  # as a Ray worker gets its features
    assert not unaligned.fit((read_only, y), val).gathered_in_graph_
    for ours, numpy_fed in zip(*(run.candidates_ for run in runs)):
        assert ours.history == numpy_fed.history
        for mine, theirs in zip(ours.head.get_weights(), numpy_fed.head.get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(train[0], before)


def test_shared_layers_are_the_weightless_front_of_a_chain():
    shared, own = chain_parts(_head())
    assert [type(layer).__name__ for layer in shared] == ["Dropout"]
    assert [type(layer).__name__ for layer in own] == ["Dense", "BatchNormalization", "Dense"]
    inputs = keras.Input((4,))
    branches = keras.layers.Add()([keras.layers.Dense(3)(inputs), keras.layers.Dense(3)(inputs)])
    forked = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(branches))
    assert chain_parts(forked) == ((), (forked,))  # not a chain: nothing shared, the head runs whole
    train, val = three_classes(200, dim=4)
    search = HeadSearch(forked, (0.01, 0.1), epochs=2, patience=0, batch_size=32, verbose=False).fit(train, val)
    assert all(c.epochs_run == 2 for c in search.candidates_)


def test_a_head_can_compute_its_hidden_layers_in_bfloat16():
    from transferbench.backbones import BACKBONES
    from transferbench.modeling import build_head

    spec = BACKBONES["resnet50"]
    mixed = build_head(spec, 64, 10, hidden_dtype="mixed_bfloat16")
    dense = mixed.get_layer("head_dense_256")
    assert (dense.compute_dtype, dense.variable_dtype) == ("bfloat16", "float32")
    assert mixed.get_layer("output").compute_dtype == "float32"  # the softmax and the loss stay in float32
    assert build_head(spec, 64, 10).get_layer("head_dense_256").compute_dtype == "float32"


def test_a_candidate_that_cannot_win_stops_and_the_others_train_as_without_the_cut():
    train, val = three_classes(400)
    settings = dict(epochs=20, patience=100, batch_size=32, verbose=False)  # only the cut or the cap stop them
    cut = HeadSearch(_head(), (1e-6, 0.05), cut_window=3, **settings).fit(train, val)
    uncut = HeadSearch(_head(), (1e-6, 0.05), **settings).fit(train, val)
    slow, fast = cut.candidates_
    assert slow.stop_reason == "cannot win" and 3 < slow.epochs_run < 20
    assert fast.stop_reason == "epoch cap" and fast.epochs_run == 20
    assert cut.record()["lr_stops"] == {"1e-06": "cannot win", "0.05": "epoch cap"}
    assert uncut.record()["lr_stops"] == {"1e-06": "epoch cap", "0.05": "epoch cap"}
    # the input masks come from the first candidate's dropout even after it stops: the winner trains as before
    assert fast.history == uncut.candidates_[1].history
    assert cut.best_.learning_rate == uncut.best_.learning_rate == 0.05


def _with_curves(epochs, cut_window, curves):
    """A HeadSearch whose candidates have these validation-loss histories, to ask _cannot_win about the last."""
    search = HeadSearch(None, (), epochs=epochs, patience=5, batch_size=32, cut_window=cut_window)
    search.candidates_ = [head_search.Candidate(0.1, None, None) for _ in curves]
    for candidate, curve in zip(search.candidates_, curves):
        candidate.history["val_loss"], candidate.best_loss = list(curve), min(curve)
    return search


def test_cannot_win_extrapolates_the_recent_pace_to_the_epoch_cap():
    falling = [0.9 - 0.01 * epoch for epoch in range(40)]  # 0.51 after 40 epochs, 0.01 an epoch lately
    leader = [0.45]
    search = _with_curves(100, 10, [falling, leader])  # 60 epochs left at 0.01: it could reach 0.45
    assert not search._cannot_win(search.candidates_[0], 40)
    search = _with_curves(45, 10, [falling, leader])  # 5 epochs left: it can reach 0.46 at best
    assert search._cannot_win(search.candidates_[0], 40)
    search = _with_curves(100, 10, [falling[:8], leader])  # fewer epochs than the window: too early to say
    assert not search._cannot_win(search.candidates_[0], 8)
    flat = falling[:30] + [falling[29]] * 10  # no gain in its last 10 epochs: it cannot reach the leader
    search = _with_curves(100, 10, [flat, leader])
    assert search._cannot_win(search.candidates_[0], 40)
    search = _with_curves(100, 10, [flat, [0.7]])  # already ahead: the leader is someone else's best, never itself
    assert not search._cannot_win(search.candidates_[0], 40)


def test_the_cut_needs_a_positive_window_and_no_rate_drop():
    with pytest.raises(ValueError, match="cut_window"):
        HeadSearch(None, (0.1,), epochs=5, patience=1, batch_size=8, cut_window=0)
    with pytest.raises(ValueError, match="rate_drop"):
        HeadSearch(None, (0.1,), epochs=5, patience=1, batch_size=8, cut_window=3, rate_drop=RateDrop())
