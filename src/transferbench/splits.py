"""Stratified, seeded subsets and the train/validation split."""

import math
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from .errors import UsageError

MIN_VALIDATION_PER_CLASS = 2  # on small data validation takes at least this many images per class, so each is validated


def stratified_subset(labels, size, seed, what="limit"):
    """Indices of a stratified, seeded subset of `size` items (all of them, in order, if size is None)."""
    n = len(labels)
    if size is None or size == n:
        return np.arange(n)
    if size > n:
        raise UsageError(f"{what} {size} is larger than the {n} images available; use at most {n}")
    classes = len(np.unique(labels))
    if size < classes:
        raise UsageError(f"{what} {size} is smaller than the {classes} classes (a stratified subset has one of each)")
    if n - size < classes:  # all but a few (scikit-learn cannot stratify those): which few hardly moves the shares
        return np.setdiff1d(np.arange(n), np.random.default_rng(seed).choice(n, n - size, replace=False))
    picked, _ = train_test_split(np.arange(n), train_size=size, stratify=labels, random_state=seed)
    return np.sort(picked)


def train_val_indices(labels, fraction, seed):
    """Stratified, seeded split of indices into (train, validation): `fraction` of them, rounded up as scikit-learn
    rounds, validates; on small data at least MIN_VALIDATION_PER_CLASS per class, as for label budgets."""
    n, counts = len(labels), np.unique(labels, return_counts=True)[1]
    val_size = max(math.ceil(fraction * n), MIN_VALIDATION_PER_CLASS * len(counts))
    if counts.min() < 2:
        raise UsageError(
            f"a class has only {counts.min()} training image; a stratified validation split needs at least 2 per "
            "class: add images to it or leave it out"
        )
    if n - val_size < len(counts):
        raise UsageError(
            f"{n} training images are too few for {len(counts)} classes: validation takes {val_size} (at least "
            f"{MIN_VALIDATION_PER_CLASS} per class) and training one per class; use at least {val_size + len(counts)} "
            "(more images, or a larger --train-limit)"
        )
    train, val = train_test_split(np.arange(n), test_size=val_size, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(val)


def budget_indices(labels, budget, seed, val_fraction):
    """Stratified, seeded (train, validation) indices of a label budget: `budget` images of the pool
    ('all': every one), validation taken from them (at least 2 per class, so every class is validated)."""
    n = len(labels)
    classes = len(np.unique(labels))
    if budget == "all":
        return train_val_indices(labels, val_fraction, seed)
    if budget > n:
        raise UsageError(f"label budget {budget} is larger than the {n} training images; use at most {n} or 'all'")
    subset = stratified_subset(labels, budget, seed, "label budget")
    val_size = max(round(val_fraction * budget), MIN_VALIDATION_PER_CLASS * classes)
    if budget - val_size < classes:
        raise UsageError(
            f"label budget {budget} is too small for {classes} classes (it needs {val_size} for validation "
            f"and at least one training image per class); use at least {val_size + classes}"
        )
    train, val = train_test_split(subset, test_size=val_size, stratify=labels[subset], random_state=seed)
    return np.sort(train), np.sort(val)


@dataclass
class Splits:
    """Train / validation / test images (uint8) and labels used by every row of a run."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def sizes(self):
        """Counts per split, for the record."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def make_splits(dataset, *, val_fraction=0.1, train_limit=None, test_limit=None, seed=42):
    """Subsample train and test (stratified), then hold out a stratified validation share of train."""
    keep = stratified_subset(dataset.y_train, train_limit, seed, "--train-limit")
    x, y = dataset.x_train[keep], dataset.y_train[keep]
    train, val = train_val_indices(y, val_fraction, seed)
    test = stratified_subset(dataset.y_test, test_limit, seed, "--test-limit")
    return Splits(x[train], y[train], x[val], y[val], dataset.x_test[test], dataset.y_test[test])
