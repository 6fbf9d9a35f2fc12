"""The training phases: fit a model (frozen-base head, scratch CNN, or fine-tuning) and record its history."""

import sys
import time

import keras
import numpy as np

from . import graph_fit, interrupts, lean_feed
from .modeling import find_base, unfreeze_after_cut
from .small_conv import with_fast_convs


def limit_threads(cpus):
    """Size TensorFlow's thread pools to `cpus` (intra-op) and 1 (inter-op); False when TensorFlow has already
    started in this process (its pools are fixed then)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cpus)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        return True
    except RuntimeError:
        return tf.config.threading.get_intra_op_parallelism_threads() == cpus


def compile_model(model, learning_rate, steps_per_execution=1):
    """Adam + sparse categorical cross-entropy on integer labels, accuracy metric.

    steps_per_execution > 1 runs several batches per graph call (same batches, same updates): it saves
    per-step overhead where steps are tiny, as for heads on cached features.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )


def fit(model, train, val, *, epochs, batch_size, patience, callbacks=(), in_graph=False):
    """Train on train = (x, y) with validation on val = (x, y); return the fit record.

    x may be raw images (a full model) or cached features / activations (a head or a top model).
    in_graph: run many steps per graph call over the arrays held as tensors (graph_fit.py), unless they
    are too big to copy; otherwise Keras's `fit`.

    Early stopping watches val_loss with `patience` and restores the best weights (patience 0: off,
    the last epoch's weights are kept). The record holds history, seconds, epochs_run and best_epoch
    (1-based epoch whose weights the model ends with).
    """
    callbacks = [*callbacks, keras.callbacks.TerminateOnNaN(), interrupts.stop_callback()]  # NaN: stop at once
    if patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        )
    start = time.perf_counter()
    verbose = 1 if sys.stdout.isatty() else 2
    large = lean_feed.is_large(train[0], val[0])  # too big to copy: fed batch by batch from NumPy
    with interrupts.deferred():  # Ctrl-C ends the current batch (or chunk), then raises KeyboardInterrupt here
        if in_graph and not large:
            history = graph_fit.fit_in_graph(
                model, train, val, epochs=epochs, batch_size=batch_size, callbacks=callbacks, verbose=verbose
            )
        else:
            data = _keras_fit_data(train, val, batch_size, large)
            history = model.fit(**data, epochs=epochs, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    hist = {
        key: [float(v) for v in history.history.get(key, [])]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    epochs_run = len(hist["loss"])
    if not all(np.isfinite(hist["loss"])):
        raise FloatingPointError("training loss became NaN or infinite; try a lower learning rate")
    best = int(np.argmin(hist["val_loss"])) + 1 if patience > 0 else epochs_run
    return {"history": hist, "train_seconds": seconds, "epochs_run": epochs_run, "best_epoch": best}


def _keras_fit_data(train, val, batch_size, large):
    """Arguments of Keras's `fit` for train and val: the arrays, or lean batches when they are large."""
    if large:
        seed = int(np.random.randint(2**31))  # from the row's seeded NumPy state: runs stay deterministic
        batches = lean_feed.ArrayBatches(*train, batch_size, shuffle=True, seed=seed)
        return {"x": batches, "validation_data": lean_feed.ArrayBatches(*val, batch_size, shuffle=False)}
    return {"x": train[0], "y": train[1], "validation_data": val, "batch_size": batch_size, "shuffle": True}


def prepare_fine_tuning(model, spec):
    """Phase 2 on a trained phase-1 model: unfreeze after the cut point, BN kept frozen (inference mode).

    The model keeps its trained head. Returns the unfrozen layer names; compile before training.
    """
    return unfreeze_after_cut(find_base(model), spec.cut_after)


def top_model(model, cut_after):
    """The part of a transfer model after the cut point: cut activations -> rest of the base -> head.

    It shares its layers (and weights) with `model`, so training it trains the full model. Its 3x3
    convolutions on maps of at most 2x2 (VGG16 block 5 at 32 px) run as exact matrix products
    (small_conv.py), several times faster on CPU.
    """
    base = find_base(model)
    upper = with_fast_convs(keras.Model(base.get_layer(cut_after).output, base.output, name=f"{base.name}_top"))
    activations = keras.Input(shape=upper.input_shape[1:], name="cut_activations")
    return keras.Model(activations, model.get_layer("head")(upper(activations)), name="top")
