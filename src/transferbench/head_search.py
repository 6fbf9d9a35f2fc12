"""The fair and fast recipes' learning-rate search for a head on cached features, every candidate trained side by side.

One pass over each batch feeds all candidates: each is a copy of the head from the same initial weights with its
own Adam (FusedAdam), and each keeps its own early stopping (patience on its validation loss, best weights
restored). A candidate also stops once it cannot win (`cut_window`): when even its recent rate of improvement, kept
up to the epoch cap, would leave it above the leader's best validation loss. The head's leading weightless layers
(its input dropout) run once per batch, always by the first candidate's layers, and every candidate trains on that
same dropped-out batch: each still sees fresh masks as it would alone, the learning rates are compared on common
noise, a step draws one input mask instead of one per candidate, and no candidate's training depends on when the
others stop. The winner is the one with the lowest validation loss.
Batches are the ones Keras's `fit` would make (graph_fit.keras_order), gathered chunk by chunk, so large feature
arrays are never copied whole; the first candidate is the head itself, so with one learning rate this trains as
`fit` does.
"""

import math
import sys
import time
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from . import graph_fit, interrupts, lean_feed
from .recipes import cosine_rate

CHUNK_ROWS = 8192  # examples per graph call: a stop request waits at most one chunk
VALIDATION_BATCH = 4096  # inference only, so a large batch costs no accuracy


@dataclass
class Candidate:
    """One learning rate's head and its training so far."""

    learning_rate: float
    head: keras.Model
    optimizer: "FusedAdam"
    history: dict = field(default_factory=lambda: {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []})
    best_loss: float = math.inf
    best_epoch: int = 0
    best_weights: list | None = None
    stopped: bool = False
    stale_epochs: int = 0  # epochs since the validation loss last improved or the rate was last cut
    stop_reason: str | None = None  # 'patience', 'cannot win', 'race', 'not finite', 'epoch cap', 'interrupted'

    @property
    def epochs_run(self):
        """Epochs this candidate trained."""
        return len(self.history["loss"])


def _hits(labels, probabilities):
    """How many rows' most probable class is their label."""
    return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probabilities, -1, output_type=labels.dtype), labels), tf.float32))


@dataclass(frozen=True)
class RateDrop:
    """Cut a candidate's learning rate by `factor` after `patience` epochs without a lower validation loss, never
    below `min_rate` (Keras's ReduceLROnPlateau with min_delta 0 and no cooldown)."""

    patience: int = 2
    factor: float = 0.1
    min_rate: float = 1e-4


class FusedAdam:
    """Adam with Keras's defaults (beta 0.9, 0.999, epsilon 1e-7) and Keras's update, applied by TensorFlow's fused
    kernel: one pass over each variable instead of Keras's several, which matters when a step is a few milliseconds.
    `rate` is a variable, so a schedule can change it between traced steps."""

    def __init__(self, variables, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.variables, self.learning_rate = list(variables), learning_rate
        self.rate = tf.Variable(float(learning_rate), trainable=False)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.moments = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in self.variables]
        self.iterations = tf.Variable(0.0)

    def apply(self, grads):
        """One Adam step on the variables with these gradients."""
        self.iterations.assign_add(1.0)
        beta_1_power, beta_2_power = self.beta_1**self.iterations, self.beta_2**self.iterations
        for variable, (m, v), grad in zip(self.variables, self.moments, grads):
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle,  # a Keras variable or a tf.Variable
                m=m.handle,
                v=v.handle,
                beta1_power=beta_1_power,
                beta2_power=beta_2_power,
                lr=self.rate.read_value(),
                beta1=tf.constant(self.beta_1, tf.float32),
                beta2=tf.constant(self.beta_2, tf.float32),
                epsilon=tf.constant(self.epsilon, tf.float32),
                grad=grad,
            )


def chain_parts(head):
    """(the head's leading layers without weights, the rest) when the head is a chain of layers, as build_head makes;
    ((), (head,)) otherwise. The first part is what candidates can share."""
    layers = head.layers[1:]
    if len(head.inputs) != 1 or any(layer.input is not before.output for before, layer in zip(head.layers, layers)):
        return (), (head,)
    first = next((i for i, layer in enumerate(layers) if layer.weights), len(layers))
    return tuple(layers[:first]), tuple(layers[first:])


def _forward(layers, x):
    """x through these layers in training mode."""
    for layer in layers:
        x = layer(x, training=True)
    return x


def _copy_head(head, weights, learning_rate):
    """A candidate: a fresh copy of `head` holding `weights`, with its own Adam."""
    copy = keras.models.clone_model(head)
    copy.set_weights(weights)
    return Candidate(learning_rate, copy, FusedAdam(copy.trainable_variables, learning_rate))


class HeadSearch:
    """Train one copy of `head` per learning rate, side by side, for at most `epochs` epochs; early stopping with
    `patience` on each copy's validation loss (0: off, the last epoch counts). After `fit`, `head` holds the winner's
    weights and `best_`, `candidates_`, `train_seconds_` and `gathered_in_graph_` describe the search. seed: set Keras's
    global seed before the first batch (None: leave it as it is). shared_mask: every candidate trains on one dropped-out
    batch (False: each draws its own input mask, as before; for measuring what sharing saves). race_after: after this
    many epochs only the leader (lowest validation loss so far) goes on; None, the recipe's way, trains every candidate
    until its own patience ends it. Racing measures what cutting slow starters costs (bench_search_changes.py).
    rate_drop: a RateDrop schedule for every candidate (None, the recipe's way: each keeps its rate); for measuring one
    scheduled rate against the recipe's three fixed ones. cut_window: after each epoch, stop a candidate whose best
    validation loss, falling for the rest of the epoch cap at its mean rate over its last `cut_window` epochs, would
    still be above another candidate's best (a bound whenever its curve flattens, as a head's does on fixed features);
    None: only patience stops candidates. Not with rate_drop, whose cuts make a flat curve fall again. decay: "cosine"
    lowers every candidate's rate after each epoch along a cosine that reaches 0 at the epoch cap (recipes.cosine_rate;
    the fast recipe); "constant" keeps it. gather_in_graph:
    gather each batch inside the graph from a tensor sharing the features' memory, when the array allows it
    (lean_feed.tensor_view: C-contiguous, aligned as feature_cache.aligned_rows makes it, writable); otherwise, or with
    False (for measuring what it saves), each chunk of batches is gathered by NumPy and copied into a tensor."""

    def __init__(
        self,
        head,
        learning_rates,
        *,
        epochs,
        patience,
        batch_size,
        seed=None,
        shared_mask=True,
        race_after=None,
        rate_drop=None,
        cut_window=None,
        decay="constant",
        gather_in_graph=True,
        verbose=True,
    ):
        if cut_window is not None and (cut_window < 1 or rate_drop is not None):
            raise ValueError("cut_window must be a positive number of epochs, and cannot be used with rate_drop")
        if decay not in ("constant", "cosine") or (decay == "cosine" and rate_drop is not None):
            raise ValueError("decay must be 'constant' or 'cosine', and a cosine cannot be used with rate_drop")
        self.head, self.learning_rates, self.seed, self.shared_mask = head, tuple(learning_rates), seed, shared_mask
        self.epochs, self.patience, self.batch_size, self.verbose = epochs, patience, batch_size, verbose
        self.race_after, self.rate_drop, self.cut_window = race_after, rate_drop, cut_window
        self.gather_in_graph, self.decay = gather_in_graph, decay

    def fit(self, train, val):
        """Search on train = (features, labels), validated on val = (features, labels)."""
        start = time.perf_counter()
        x, y = train[0], np.asarray(train[1], dtype=np.int32)
        head, rates = self.head, self.learning_rates
        copies = (_copy_head(head, head.get_weights(), lr) for lr in rates[1:])
        self.candidates_ = [Candidate(rates[0], head, FusedAdam(head.trainable_variables, rates[0])), *copies]
        if self.seed is not None:  # as the sequential search seeds each candidate's fit: the same batches
            keras.utils.set_random_seed(self.seed)
        orders = graph_fit.keras_order(len(y))
        view = lean_feed.tensor_view(x) if self.gather_in_graph else None
        feed = (view, tf.constant(y)) if view is not None else (x, y)  # tensors: batches gathered in the graph
        self.gathered_in_graph_ = view is not None
        val_x = lean_feed.tensor_view(val[0])
        val_x, val_y = tf.constant(val[0]) if val_x is None else val_x, tf.constant(np.asarray(val[1], np.int32))
        train_chunk, score = self._graphs()
        with interrupts.deferred():
            for epoch in range(self.epochs):
                running = [c for c in self.candidates_ if not c.stopped]
                if not running:
                    break
                totals = self._train_epoch(train_chunk, running, *feed, next(orders).numpy())
                for candidate, (loss, accuracy) in zip(running, totals):
                    val_loss, val_accuracy = (float(v) for v in score(candidate.head, val_x, val_y))
                    self._end_epoch(candidate, epoch, loss, accuracy, val_loss, val_accuracy)
                if self.cut_window:
                    for candidate in running:
                        if not candidate.stopped and self._cannot_win(candidate, epoch + 1):
                            candidate.stopped, candidate.stop_reason = True, "cannot win"
                if epoch + 1 == self.race_after:
                    leader = self._leader()
                    for candidate in self.candidates_:
                        if not candidate.stopped and candidate is not leader:
                            candidate.stopped, candidate.stop_reason = True, "race"
                self._say(epoch, running)
                if interrupts.requested():
                    break
        for candidate in self.candidates_:
            if not candidate.stopped:
                candidate.stop_reason = "epoch cap" if candidate.epochs_run == self.epochs else "interrupted"
        self.best_ = self._leader()
        if self.best_.best_weights is None:
            raise FloatingPointError("training loss became NaN or infinite for every learning rate")
        self.head.set_weights(self.best_.best_weights)
        self.train_seconds_ = time.perf_counter() - start
        return self

    def _leader(self):
        """The candidate with the lowest validation loss so far (the earliest listed on a tie)."""
        return min(self.candidates_, key=lambda c: (c.best_loss, self.candidates_.index(c)))

    def _cannot_win(self, candidate, epochs_run):
        """Whether the candidate's best validation loss, falling for the epochs left at its mean rate over the last
        cut_window epochs, would stay above another candidate's best."""
        window = self.cut_window
        if epochs_run <= window:
            return False
        best = np.minimum.accumulate(candidate.history["val_loss"])
        rate = (best[-1 - window] - best[-1]) / window
        reachable = best[-1] - (self.epochs - epochs_run) * rate
        return bool(reachable > min(c.best_loss for c in self.candidates_ if c is not candidate))

    def record(self):
        """The fit record of the winner (as training.fit returns), with the search's time, rate, grid (best
        validation loss per rate), each rate's epochs and why each stopped."""
        best = self.best_
        grid = {f"{c.learning_rate:g}": c.best_loss for c in self.candidates_}
        epochs = {f"{c.learning_rate:g}": c.epochs_run for c in self.candidates_}
        stops = {f"{c.learning_rate:g}": c.stop_reason for c in self.candidates_}
        return {
            "history": best.history,
            "train_seconds": self.train_seconds_,
            "epochs_run": best.epochs_run,
            "best_epoch": best.best_epoch,
            "learning_rate": best.learning_rate,
            "lr_grid": grid if len(grid) > 1 else None,
            "lr_epochs": epochs if len(grid) > 1 else None,
            "lr_stops": stops if len(grid) > 1 else None,
        }

    def _train_epoch(self, train_chunk, running, x, y, order):
        """One epoch in this order: mean loss and accuracy of each running candidate."""
        size = self.batch_size
        heads = [c.head for c in running]
        optimizers = [c.optimizer for c in running]
        sums = np.zeros((len(running), 2))
        rows_per_chunk = max(size, CHUNK_ROWS // size * size)
        order = np.asarray(order, dtype=np.int32)
        for begin in range(0, len(order), rows_per_chunk):
            rows = order[begin : begin + rows_per_chunk]
            if tf.is_tensor(x):
                chunk = (x, y, tf.constant(rows))
            else:  # NumPy arrays: this chunk's batches gathered and copied, then taken in order
                chunk = (tf.constant(x[rows]), tf.constant(y[rows]), tf.range(len(rows)))
            sums += train_chunk(heads, optimizers, *chunk).numpy()
            if interrupts.requested():
                break
        return [(loss / len(order), correct / len(order)) for loss, correct in sums]

    def _graphs(self):
        """Traced functions: train every given head on a chunk of batches; score one head on the validation set.
        A new set of running heads traces the training function again (at most once per candidate that stops)."""
        size = self.batch_size
        mask_layers = chain_parts(self.head)[0]  # the first candidate's, stopped or not: one stream of masks

        @tf.function(reduce_retracing=True)
        def train_chunk(heads, optimizers, x, y, rows):
            sums = tf.zeros([len(heads), 2])  # per head: summed loss, correct predictions
            steps = (tf.shape(rows)[0] + size - 1) // size
            for step in tf.range(steps):
                batch = rows[step * size : (step + 1) * size]
                xb, yb = tf.gather(x, batch), tf.gather(y, batch)
                with tf.GradientTape() as tape:
                    if self.shared_mask:  # one input mask for every candidate
                        shared = _forward(mask_layers, xb)
                        outputs = [_forward(chain_parts(head)[1], shared) for head in heads]
                    else:
                        outputs = [head(xb, training=True) for head in heads]
                    losses = [keras.losses.sparse_categorical_crossentropy(yb, out) for out in outputs]
                    total = tf.add_n([tf.reduce_mean(loss) for loss in losses])
                grads = tape.gradient(total, [head.trainable_variables for head in heads])
                for optimizer, grad in zip(optimizers, grads):
                    optimizer.apply(grad)
                sums += tf.stack(
                    [tf.stack([tf.reduce_sum(loss), _hits(yb, out)]) for loss, out in zip(losses, outputs)]
                )
            return sums

        @tf.function(reduce_retracing=True)
        def score(head, x, y):
            loss, correct = tf.constant(0.0), tf.constant(0.0)
            for begin in tf.range(0, tf.shape(y)[0], VALIDATION_BATCH):
                xb, yb = x[begin : begin + VALIDATION_BATCH], y[begin : begin + VALIDATION_BATCH]
                out = head(xb, training=False)
                loss += tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(yb, out))
                correct += _hits(yb, out)
            count = tf.cast(tf.shape(y)[0], tf.float32)
            return loss / count, correct / count

        return train_chunk, score

    def _end_epoch(self, candidate, epoch, loss, accuracy, val_loss, val_accuracy):
        """Record the epoch; keep the best weights; stop the candidate when its patience runs out or it fails."""
        for name, value in zip(candidate.history, (loss, accuracy, val_loss, val_accuracy)):
            candidate.history[name].append(value)
        if not np.isfinite(loss):
            candidate.stopped, candidate.stop_reason = True, "not finite"  # as TerminateOnNaN: it cannot win
            return
        if not self.patience or val_loss < candidate.best_loss:
            candidate.best_loss, candidate.best_epoch = val_loss, epoch + 1
            candidate.best_weights = candidate.head.get_weights()
        elif epoch + 1 - candidate.best_epoch >= self.patience:
            candidate.stopped, candidate.stop_reason = True, "patience"
        if self.rate_drop and not candidate.stopped:
            self._drop_rate(candidate)
        if self.decay == "cosine":
            candidate.optimizer.rate.assign(cosine_rate(candidate.learning_rate, epoch + 1, self.epochs))

    def _drop_rate(self, candidate):
        """Count the epoch as stale unless its validation loss is the lowest yet; cut the candidate's rate when its
        stale epochs reach the schedule's patience."""
        drop, rate = self.rate_drop, float(candidate.optimizer.rate.numpy())
        *before, last = candidate.history["val_loss"]
        candidate.stale_epochs = 0 if last < min(before, default=math.inf) else candidate.stale_epochs + 1
        if candidate.stale_epochs >= drop.patience and rate > drop.min_rate:
            candidate.optimizer.rate.assign(max(rate * drop.factor, drop.min_rate))
            candidate.stale_epochs = 0

    def _say(self, epoch, running):
        """One line per epoch: each running candidate's validation loss and accuracy."""
        if not self.verbose:
            return
        rates = [float(c.optimizer.rate.numpy()) if self.rate_drop else c.learning_rate for c in running]
        parts = [
            f"lr {rate:g}: val_loss {c.history['val_loss'][-1]:.4f} acc {c.history['val_accuracy'][-1]:.4f}"
            + (f" (stops: {c.stop_reason})" if c.stopped else "")
            for c, rate in zip(running, rates)
        ]
        print(f"Epoch {epoch + 1}/{self.epochs}  " + "; ".join(parts), file=sys.stdout, flush=True)
