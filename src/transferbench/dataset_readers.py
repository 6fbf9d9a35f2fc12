"""Readers for the datasets beyond MNIST: CIFAR-10 archives, scikit-learn's digits, and image folders."""

import gzip
import hashlib
import math
import pickle
import tarfile
from pathlib import Path

import numpy as np

from .errors import DataError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
FOLDER_SIDE = 64  # images of a folder dataset are resized to FOLDER_SIDE x FOLDER_SIDE


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays, lists and dicts and refuses every other global."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        """Allow only the NumPy pieces an array pickle needs."""
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def read_cifar10_archive(path):
    """x_train, y_train, x_test, y_test from the official cifar-10-python.tar.gz (NHWC uint8)."""
    batches = {}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            if name.startswith("data_batch_") or name == "test_batch":
                batch = _ArraysOnly(archive.extractfile(member), encoding="bytes").load()
                batches[name] = (np.asarray(batch[b"data"], np.uint8), np.asarray(batch[b"labels"], np.int64))
    train_names = sorted(n for n in batches if n.startswith("data_batch_"))
    if not train_names or "test_batch" not in batches:
        raise ValueError("the archive lacks data_batch_* or test_batch")

    def images(data):
        return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)

    x_train = np.concatenate([images(batches[n][0]) for n in train_names])
    y_train = np.concatenate([batches[n][1] for n in train_names])
    return x_train, y_train, images(batches["test_batch"][0]), batches["test_batch"][1]


def read_sklearn_digits(path, side=32, test_fraction=0.2, seed=0):
    """scikit-learn's bundled 8x8 digits (0..16), scaled to 0..255, upscaled to side x side, and split
    once (stratified, seed 0: the split is part of the dataset's identity)."""
    from PIL import Image
    from sklearn.model_selection import train_test_split

    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",")
    pixels = np.rint(table[:, :-1] * 255 / 16).astype(np.uint8).reshape(-1, 8, 8)
    labels = table[:, -1].astype(np.int64)
    big = np.stack([np.asarray(Image.fromarray(p).resize((side, side), Image.Resampling.BILINEAR)) for p in pixels])
    train, test = train_test_split(np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=seed)
    return big[train], labels[train], big[test], labels[test]


def sklearn_digits_file():
    """The digits.csv.gz that scikit-learn ships, or None."""
    import sklearn.datasets

    path = Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"
    return path if path.is_file() else None


def _skipped(path):
    """Hidden files and folders, and what macOS leaves in archives and on foreign disks (__MACOSX/, ._NAME
    resource forks that carry an image's suffix but hold no image)."""
    return path.name.startswith(".") or path.name == "__MACOSX"


def image_files(folder):
    """The image files directly in a folder, sorted (hidden files and resource forks skipped)."""
    return sorted(
        f for f in Path(folder).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file() and not _skipped(f)
    )


def _images_of(folder):
    """Image files directly under each class subfolder: {class name: [paths]} (sorted)."""
    classes = sorted(p for p in Path(folder).iterdir() if p.is_dir() and not _skipped(p))
    return {c.name: image_files(c) for c in classes}


def _open_image(path, use):
    """use(the opened image) for an image file; DataError naming the file when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return use(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot read image {path}: {exc}; remove or replace it") from None


def _read_folder_images(paths, grayscale):
    """Decode images, resized to FOLDER_SIDE; DataError naming the first file that cannot be read."""
    from .image_input import folder_pixels

    side = (FOLDER_SIDE, FOLDER_SIDE)
    return np.stack([_open_image(path, lambda image: folder_pixels(image, side, grayscale)) for path in paths])


def read_image_folder(root, test_fraction=0.2, seed=0):
    """An image folder: ROOT/CLASS/*.png (split made: stratified test share, seed 0) or
    ROOT/train/CLASS/* and ROOT/test/CLASS/* (split given). Returns (x_train, y_train, x_test, y_test,
    class names, sha256 of every file's name and bytes)."""
    from sklearn.model_selection import train_test_split

    from .image_input import is_grey

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    given = (root / "train").is_dir() and (root / "test").is_dir()
    parts = (
        {"train": _images_of(root / "train"), "test": _images_of(root / "test")} if given else {"all": _images_of(root)}
    )
    names = sorted({c for part in parts.values() for c in part})
    untrained = sorted(set(parts.get("test", {})) - set(parts.get("train", {})))
    if untrained:  # a model cannot answer a class it never saw: most often a misspelt folder
        raise DataError(
            f"class folder {root / 'test' / untrained[0]} has no match in {root / 'train'} (its classes: "
            f"{', '.join(sorted(parts['train']))}); name the class folders alike in both"
        )
    if len(names) < 2:
        raise DataError(f"{root} needs one subfolder per class (at least 2) with images in them")
    for part, classes in parts.items():
        empty = [c for c, fs in classes.items() if not fs]
        if empty:
            where = root if part == "all" else root / part
            raise DataError(
                f"class folder {where / empty[0]} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                "add images to it or remove it"
            )
    digest = hashlib.sha256()
    files = {part: [(f, names.index(c)) for c, fs in classes.items() for f in fs] for part, classes in parts.items()}
    for part in files.values():
        for path, _ in part:
            digest.update(f"{path.relative_to(root)}:".encode() + hashlib.sha256(path.read_bytes()).digest())
    every = [path for part in files.values() for path, _ in part]
    needs = {"all": (3, "train, validate and test"), "train": (2, "train and validate"), "test": (1, "test")}
    for part, classes in parts.items():
        least, uses = needs[part]
        few = [c for c, fs in classes.items() if len(fs) < least]
        if few:
            where, count = (root if part == "all" else root / part) / few[0], len(classes[few[0]])
            raise DataError(
                f"class folder {where} holds {count} image{'s' * (count != 1)}; every class needs at least {least} "
                f"(to {uses}): add images"
            )
    # one channel only when every image has one: a single grey file must not turn colour photos grey (headers only)
    grayscale = all(_open_image(path, is_grey) for path in every)
    arrays = {part: _read_folder_images([p for p, _ in fs], grayscale) for part, fs in files.items()}
    labels = {part: np.array([label for _, label in fs], np.int64) for part, fs in files.items()}
    if given:
        return arrays["train"], labels["train"], arrays["test"], labels["test"], tuple(names), digest.hexdigest()
    count = len(labels["all"])  # the test share rounded up as scikit-learn does, and at least one image per class
    test_size = max(math.ceil(test_fraction * count), len(names))
    train, test = train_test_split(np.arange(count), test_size=test_size, stratify=labels["all"], random_state=seed)
    x, y = arrays["all"], labels["all"]
    return x[train], y[train], x[test], y[test], tuple(names), digest.hexdigest()
