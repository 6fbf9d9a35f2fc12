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
def row_inputs(tiny_splits, tmp_path):
    """RowInputs for run_row on the tiny splits, with the run folder in tmp_path: inputs(cfg, parent=None)."""
    from transferbench.data import default_cache_dir
    from transferbench.experiment import RowData, RowInputs
    from transferbench.feature_cache import FeatureCache

    data = RowData.from_splits(tiny_splits)

    def make(cfg, parent=None):
        cache = FeatureCache(default_cache_dir() if cfg.disk_cache else None)
        return RowInputs(cfg, data, cache, tmp_path, parent=parent)

    return make


def three_classes(count=300, dim=12, seed=0):
    """A small 3-class problem a head learns in a few epochs: (train, val) as (x, y), split 80/20."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, dim)).astype(np.float32)
    y = (x[:, :3] @ np.array([1.0, -1.0, 0.5], np.float32) > 0).astype(np.int64) + (x[:, 3] > 1)
    cut = count * 4 // 5
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def spec_of(cfg, name, phase="frozen", parent=None):
    """The RowSpec of a one-cell row named `name` under cfg (backbone = name without its suffix)."""
    from transferbench.records import RowSpec

    backbone = None if phase == "scratch" else name.removesuffix("_finetuned").removesuffix("_probe")
    return RowSpec(name, name, phase, backbone=backbone, parent=parent, seed=cfg.seed, input_size=cfg.input_size)


@pytest.fixture(scope="session")
def mnist():
    """The full MNIST from the offline sources (package copy or cache)."""
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def tiny_splits(mnist):
    """A stratified 200-image train / 100-image test subset."""
    return make_splits(mnist, val_fraction=0.2, train_limit=200, test_limit=100, seed=0)


@pytest.fixture(scope="session")
def digit_run(tmp_path_factory):
    """A run folder with a CNN that reads digits (6,000 MNIST images, 3 epochs) and a frozen backbone row."""
    import transferbench

    out = tmp_path_factory.mktemp("digits") / "run"
    config = transferbench.RunConfig(
        models=["mobilenetv2", "cnn"],
        fine_tune=["none"],
        weights="random",
        train_limit=6000,
        test_limit=300,
        epochs=3,
        recipe="course",
        disk_cache=False,
    )
    transferbench.run(config, out=out)
    return out
