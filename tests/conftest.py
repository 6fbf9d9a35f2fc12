"""Shared fixtures: the offline MNIST loaded once, tiny splits, quiet TensorFlow."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

from transferbench.data import load_dataset
from transferbench.splits import make_splits


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Keep the tests' feature cache out of the user's cache folder."""
    os.environ["TRANSFERBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def context(tiny_splits, tmp_path):
    """Build a run context on the tiny splits with the run folder in tmp_path."""
    from transferbench.experiment import make_context

    return lambda cfg: make_context(cfg, tiny_splits, tmp_path)


@pytest.fixture(scope="session")
def mnist():
    """The full MNIST from the offline sources (package copy or cache)."""
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def tiny_splits(mnist):
    """A stratified 200-image train / 100-image test subset."""
    return make_splits(mnist, val_fraction=0.2, train_limit=200, test_limit=100, seed=0)
