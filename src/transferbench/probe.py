"""Linear probe rows (`NAME_probe`): logistic regression on a frozen backbone's cached pooled features.

The regularisation strength C is chosen on the validation split; the fitted probe (with its feature
standardisation folded in) becomes a softmax Dense head, so the saved model predicts from raw images.
"""

import time
import warnings

import keras
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

C_GRID = (0.01, 0.1, 1.0, 10.0)


def fit_probe(train, val, seed, grid=C_GRID, max_iter=300):
    """Fit standardised multinomial logistic regression for each C; keep the best on validation.

    train, val: (features, labels). Returns (weights, bias, record) with the scaling folded into the
    weights, so probabilities = softmax(features @ weights + bias)."""
    x_train, y_train = train
    x_val, y_val = val
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale[scale < 1e-12] = 1.0
    standard_train, standard_val = (x_train - mean) / scale, (x_val - mean) / scale
    classes = np.arange(int(max(y_train.max(), y_val.max())) + 1)
    tried, best = {}, None
    for c in grid:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(C=c, max_iter=max_iter, random_state=seed).fit(standard_train, y_train)
        probabilities = _full_probabilities(model, standard_val, len(classes))
        accuracy = float((probabilities.argmax(axis=1) == y_val).mean())
        loss = float(log_loss(y_val, probabilities, labels=classes))
        tried[str(c)] = {"val_accuracy": accuracy, "val_loss": loss}
        if best is None or (accuracy, -loss) > (best[1], -best[2]):
            best = (model, accuracy, loss, c)
    model, accuracy, loss, c = best
    weights, bias = _logits_of(model, len(classes))
    record = {"probe_C": c, "probe_grid": tried, "val_accuracy": accuracy, "val_loss": loss}
    return weights / scale[:, None], bias - (mean / scale) @ weights, record


def _logits_of(model, num_classes):
    """(weights d x k, bias k) giving the model's class probabilities through a softmax."""
    weights = np.zeros((model.coef_.shape[1], num_classes))
    bias = np.zeros(num_classes)
    if model.coef_.shape[0] == 1:  # binary: sigmoid(z) == softmax([-z/2, z/2])[1]
        weights[:, model.classes_[0]], weights[:, model.classes_[1]] = -model.coef_[0] / 2, model.coef_[0] / 2
        bias[model.classes_[0]], bias[model.classes_[1]] = -model.intercept_[0] / 2, model.intercept_[0] / 2
        return weights, bias
    weights[:, model.classes_] = model.coef_.T
    bias[model.classes_] = model.intercept_
    missing = np.setdiff1d(np.arange(num_classes), model.classes_)
    bias[missing] = -1e9  # a class absent from training is never predicted
    return weights, bias


def _full_probabilities(model, x, num_classes):
    """predict_proba with a column for every class (0 for classes absent from training)."""
    probabilities = np.zeros((len(x), num_classes))
    probabilities[:, model.classes_] = model.predict_proba(x.astype(np.float64))
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def probe_head(weights, bias):
    """A Keras head (pooled features -> softmax) holding the fitted probe."""
    features = keras.Input(shape=(weights.shape[0],), name="features")
    dense = keras.layers.Dense(weights.shape[1], activation="softmax", name="probe")
    head = keras.Model(features, dense(features), name="head")
    dense.set_weights([weights.astype(np.float32), bias.astype(np.float32)])
    return head


def timed_probe(train, val, seed):
    """fit_probe with its wall time in the record as train_seconds."""
    start = time.perf_counter()
    weights, bias, record = fit_probe(train, val, seed)
    record["train_seconds"] = time.perf_counter() - start
    return weights, bias, record
