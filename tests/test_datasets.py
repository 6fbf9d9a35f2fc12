"""The datasets beyond MNIST: offline ones for real, download ones from a local file, image folders."""

import dataclasses
import gzip
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from transferbench import data
from transferbench.cli import main
from transferbench.data import DATASETS, load_dataset
from transferbench.errors import DataError

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="apt-get install dataset-fashion-mnist to test it offline")
def test_fashion_mnist_from_the_debian_package():
    dataset = load_dataset("fashion_mnist")
    assert dataset.x_train.shape == (60000, 28, 28, 1) and dataset.x_test.shape == (10000, 28, 28, 1)
    assert dataset.source["kind"] == "package" and dataset.class_names[9] == "Ankle boot"
    assert np.bincount(dataset.y_test).tolist() == [1000] * 10


def _idx(array):
    """Gzipped IDX bytes of a uint8 array."""
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.tobytes())


def test_idx_folder_reader_and_its_hash_check(tmp_path):
    rng = np.random.default_rng(0)
    parts = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 255, (30, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(30, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 255, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(10, dtype=np.uint8),
    }
    for name, array in parts.items():
        (tmp_path / name).write_bytes(_idx(array))
    x_train, y_train, x_test, y_test = data._read_idx_folder(tmp_path)
    assert np.array_equal(x_train, parts["train-images-idx3-ubyte.gz"]) and np.array_equal(y_test, np.arange(10))
    with pytest.raises(DataError, match="does not match any known fashion_mnist file"):
        load_dataset("fashion_mnist", data_file=tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="lacks t10k-labels-idx1-ubyte.gz"):
        load_dataset("fashion_mnist", data_file=tmp_path)


def test_digits_ship_with_scikit_learn():
    dataset = load_dataset("digits")
    assert dataset.x_train.shape == (1437, 32, 32, 1) and dataset.x_test.shape == (360, 32, 32, 1)
    assert dataset.x_train.dtype == np.uint8 and dataset.x_train.max() == 255
    assert set(np.unique(dataset.y_test)) == set(range(10))


def _cifar_archive(path, per_batch=4):
    """A tiny archive in the official CIFAR-10 layout."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as archive:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"data": rng.integers(0, 255, (per_batch, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3]}
            payload = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))


def test_cifar10_downloads_into_the_cache_and_is_verified(tmp_path, monkeypatch):
    served = tmp_path / "served" / "cifar-10-python.tar.gz"
    served.parent.mkdir()
    _cifar_archive(served)
    digest = hashlib.sha256(served.read_bytes()).hexdigest()
    spec = DATASETS["cifar10"]
    known = dataclasses.replace(spec.known_files[0], sha256=digest)
    monkeypatch.setitem(
        DATASETS, "cifar10", dataclasses.replace(spec, known_files=(known,), download_url=served.as_uri())
    )
    dataset = load_dataset("cifar10", cache_dir=tmp_path / "cache")
    assert dataset.source["kind"] == "download" and dataset.x_train.shape == (20, 32, 32, 3)
    assert dataset.x_test.shape == (4, 32, 32, 3) and (tmp_path / "cache" / "datasets" / spec.cache_name).is_file()
    assert load_dataset("cifar10", cache_dir=tmp_path / "cache").source["kind"] == "cache"


@pytest.mark.parametrize("name", ["cifar10", "kmnist"])
def test_cifar10_offline_is_one_clear_error(tmp_path, monkeypatch, name):
    spec = DATASETS[name]
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(spec, download_url="http://127.0.0.1:9/"))
    with pytest.raises(DataError, match="download failed.*pass a local copy with --data-file"):
        load_dataset(name, cache_dir=tmp_path)


def test_kmnist_downloads_its_four_files_into_the_cache(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    rng = np.random.default_rng(0)
    parts = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 255, (20, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(20, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 255, (10, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.arange(10, dtype=np.uint8),
    }
    for name, array in parts.items():
        (served / name).write_bytes(_idx(array))
    spec = DATASETS["kmnist"]
    known = dataclasses.replace(spec.known_files[0], sha256=data.folder_sha256(served))
    url = served.as_uri() + "/"
    monkeypatch.setitem(DATASETS, "kmnist", dataclasses.replace(spec, known_files=(known,), download_url=url))
    dataset = load_dataset("kmnist", cache_dir=tmp_path / "cache")
    assert dataset.source["kind"] == "download" and dataset.x_train.shape == (20, 28, 28, 1)
    assert dataset.class_names[1] == "ki" and (tmp_path / "cache" / "datasets" / "kmnist").is_dir()


def test_a_dataset_pickle_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        payload = pickle.dumps({b"data": Evil(), b"labels": []})
        info = tarfile.TarInfo("data_batch_1")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    from transferbench.dataset_readers import read_cifar10_archive

    with pytest.raises(pickle.UnpicklingError, match="refusing to load builtins.print"):
        read_cifar10_archive(path)


def _image_tree(root, sizes=((20, 30), (40, 40), (64, 48))):
    """Three classes of small grayscale images of several sizes."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(["circle", "square", "triangle"]):
        (root / name).mkdir(parents=True)
        for i in range(8):
            w, h = sizes[i % len(sizes)]
            pixels = np.clip(rng.normal(60 + 70 * label, 20, (h, w)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_image_folder_makes_a_split_and_names_a_corrupt_file(tmp_path):
    _image_tree(tmp_path / "shapes")
    dataset = load_dataset(f"folder:{tmp_path / 'shapes'}")
    assert dataset.class_names == ("circle", "square", "triangle")
    assert dataset.x_train.shape[1:] == (64, 64, 1) and len(dataset.y_train) + len(dataset.y_test) == 24
    assert set(np.unique(dataset.y_test)) == {0, 1, 2}
    (tmp_path / "shapes" / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=r"cannot read image .*square/broken\.png"):
        load_dataset(f"folder:{tmp_path / 'shapes'}")


def test_image_folder_with_a_given_split(tmp_path):
    _image_tree(tmp_path / "given" / "train")
    _image_tree(tmp_path / "given" / "test")
    dataset = load_dataset(f"folder:{tmp_path / 'given'}")
    assert len(dataset.y_train) == 24 and len(dataset.y_test) == 24


@pytest.mark.slow
def test_class_names_flow_into_the_report(tmp_path):
    _image_tree(tmp_path / "shapes")
    out = tmp_path / "run"
    argv = ["run", "--dataset", f"folder:{tmp_path / 'shapes'}", "--models", "cnn", "--epochs", "1"]
    assert main([*argv, "--recipe", "course", "--val-fraction", "0.25", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "circle" in report and "triangle" in report
