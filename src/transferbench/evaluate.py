"""Metrics on the test set from predicted probabilities."""

import numpy as np
from sklearn.metrics import accuracy_score, log_loss

from . import interrupts, lean_feed


def predict_probabilities(model, images, batch_size=256):
    """Class probabilities for images, in batches."""
    callbacks = [interrupts.stop_callback()]
    with interrupts.deferred():
        if lean_feed.is_large(images):  # Keras would copy the whole array first
            probabilities = lean_feed.predict_in_chunks(model, images, batch_size, callbacks)
        else:
            probabilities = model.predict(images, batch_size=batch_size, verbose=0, callbacks=callbacks)
    return np.asarray(probabilities, dtype=np.float32)


def test_metrics(labels, probabilities):
    """Test accuracy and cross-entropy loss from probabilities."""
    classes = np.arange(probabilities.shape[1])
    return {
        "test_accuracy": float(accuracy_score(labels, probabilities.argmax(axis=1))),
        "test_loss": float(log_loss(labels, probabilities, labels=classes)),
    }
