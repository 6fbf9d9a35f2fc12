"""The training phases: fit a model (frozen-base head, scratch CNN, or fine-tuning) and record its history."""

import sys
import time

import keras
import numpy as np

from .modeling import find_base, unfreeze_after_cut


def compile_model(model, learning_rate):
    """Adam + sparse categorical cross-entropy on integer labels, accuracy metric."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def fit(model, splits, *, epochs, batch_size, patience, callbacks=()):
    """Train on splits.x_train with validation on splits.x_val; return the fit record.

    Early stopping watches val_loss with `patience` and restores the best weights (patience 0: off,
    the last epoch's weights are kept). The record holds history, seconds, epochs_run and best_epoch
    (1-based epoch whose weights the model ends with).
    """
    callbacks = list(callbacks)
    if patience > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        )
    start = time.perf_counter()
    history = model.fit(
        splits.x_train,
        splits.y_train,
        validation_data=(splits.x_val, splits.y_val),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=callbacks,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    seconds = time.perf_counter() - start
    hist = {key: [float(v) for v in history.history.get(key, [])] for key in ("loss", "accuracy", "val_loss", "val_accuracy")}
    epochs_run = len(hist["loss"])
    if not all(np.isfinite(hist["loss"])):
        raise FloatingPointError("training loss became NaN or infinite; try a lower learning rate")
    best = int(np.argmin(hist["val_loss"])) + 1 if patience > 0 else epochs_run
    return {"history": hist, "train_seconds": seconds, "epochs_run": epochs_run, "best_epoch": best}


def prepare_fine_tuning(model, spec, learning_rate):
    """Phase 2 on a trained phase-1 model: unfreeze after the cut point, keep BN in inference mode, recompile.

    The model keeps its trained head; the base was called with training=False when it was built, so
    BatchNormalization layers use their moving statistics even when trainable. Returns the unfrozen names.
    """
    base = find_base(model)
    unfrozen = unfreeze_after_cut(base, spec.cut_after)
    compile_model(model, learning_rate)
    return unfrozen
