"""Ctrl-C and SIGTERM that stop a run between TensorFlow steps, never inside one.

A KeyboardInterrupt raised by Python's default handler can land inside TensorFlow's own Python
call machinery while Keras is training; the process then sometimes dies at exit with heap
corruption (``malloc(): unaligned tcache chunk detected``, SIGABRT) instead of saving and exiting
130. So, inside ``deferred()`` blocks (fit, predict, feature extraction), a first signal only
records the request: Keras is told to stop after the current batch, and KeyboardInterrupt is raised
from our own code once TensorFlow has returned. Outside those blocks, and on a second signal, it is
raised at once.
"""

import contextlib
import signal

_state = {"requested": False, "deferring": 0}
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _on_signal(signum, frame):
    """Record a stop request while TensorFlow is busy; otherwise stop now."""
    if _state["deferring"] and not _state["requested"]:
        _state["requested"] = True
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def handling():
    """Route SIGINT and SIGTERM through this module for the duration of the block."""
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    _state.update(requested=False, deferring=0)
    for sig in SIGNALS:
        signal.signal(sig, _on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state.update(requested=False, deferring=0)


def requested():
    """Whether a stop was asked for and not acted on yet."""
    return _state["requested"]


def check():
    """Raise KeyboardInterrupt if a stop was asked for while TensorFlow was busy."""
    if _state["requested"]:
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred():
    """Inside this block a first signal waits for the next safe point instead of raising."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
    check()


def stop_callback():
    """A Keras callback that ends fit, evaluate or predict after the batch in which a stop was asked for."""
    import keras

    class StopOnRequest(keras.callbacks.Callback):
        """Sets Keras's stop flags once `requested()` is true."""

        def on_train_batch_end(self, batch, logs=None):
            if requested():
                self.model.stop_training = True

        def on_test_batch_end(self, batch, logs=None):
            if requested():
                self.model.stop_evaluating = True

        def on_predict_batch_end(self, batch, logs=None):
            if requested():
                self.model.stop_predicting = True

    return StopOnRequest()
