"""Make tests/data/handwritten/: 120 digits as people make them, from MNIST test digits (so each has a known
MNIST-normalised original): dark on light, off-centre on a larger canvas or a photo of paper, any size, varied
stroke width and slant, uneven light, paper texture, JPEG noise, sometimes a border or a shadow.

Run from the project root: `python tests/data/make_handwritten.py` (deterministic: seed 0)."""

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from transferbench.data import load_dataset

OUT = Path(__file__).resolve().parent / "handwritten"
PER_CLASS = 12


def _person_digit(digit, rng):
    """A 28x28 MNIST digit as a person's stroke: upscaled, slanted, thinner or bolder, dark on light."""
    height = int(rng.integers(60, 230))
    image = Image.fromarray(digit).resize((height, height), Image.Resampling.BICUBIC)
    slant = rng.uniform(-0.35, 0.35)
    image = image.transform(
        image.size, Image.Transform.AFFINE, (1, slant, -slant * height / 2, 0, 1, 0), resample=Image.Resampling.BICUBIC
    )
    width_change = int(rng.integers(-2, 4)) * max(1, height // 60)
    if width_change > 0:
        image = image.filter(ImageFilter.MaxFilter(2 * width_change + 1))
    elif width_change < 0:
        image = image.filter(ImageFilter.MinFilter(2 * -width_change + 1))
    return np.asarray(image, np.float32) / 255.0  # ink amount 0..1


def _background(shape, rng, photo):
    """A white canvas, or paper under uneven light with texture (a photo)."""
    height, width = shape
    if not photo:
        return np.full(shape, rng.uniform(235, 255), np.float32)
    y, x = np.mgrid[0:height, 0:width] / max(shape)
    light = rng.uniform(150, 220) + rng.uniform(-50, 50) * x + rng.uniform(-50, 50) * y
    texture = ndimage.gaussian_filter(rng.normal(0, 10, shape), 1.2)
    return (light + texture).astype(np.float32)


def make(image_index, digit, rng):
    """One person-style image of an MNIST digit (uint8 grayscale or RGB) and how it was made."""
    photo = bool(rng.random() < 0.5)
    canvas_shape = (int(rng.integers(240, 420)), int(rng.integers(300, 520)))
    paper = _background(canvas_shape, rng, photo)
    ink = _person_digit(digit, rng)
    size = ink.shape[0]
    if size + 10 > min(canvas_shape):
        ink = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize((min(canvas_shape) - 20,) * 2)) / 255.0
        size = ink.shape[0]
    top = int(rng.integers(5, canvas_shape[0] - size - 5))
    left = int(rng.integers(5, canvas_shape[1] - size - 5))
    amount = np.zeros(canvas_shape, np.float32)
    amount[top : top + size, left : left + size] = ink
    pen = rng.uniform(10, 70)  # dark pen or pencil grey
    image = paper * (1 - amount) + pen * amount
    extras = []
    if photo and rng.random() < 0.3:  # a shadow across one side
        y, x = np.mgrid[0 : canvas_shape[0], 0 : canvas_shape[1]]
        edge = rng.uniform(0.2, 0.8) * canvas_shape[1]
        image *= np.where(x + 0.3 * y < edge, rng.uniform(0.55, 0.8), 1.0)
        extras.append("shadow")
    if photo and rng.random() < 0.3:  # the dark table around the paper
        border = int(rng.integers(3, 12))
        image[:border], image[-border:], image[:, :border], image[:, -border:] = 30, 30, 30, 30
        extras.append("border")
    image = np.clip(image + rng.normal(0, 3 if photo else 0, canvas_shape), 0, 255).astype(np.uint8)
    kind = "photo" if photo else "canvas"
    return Image.fromarray(image), kind, extras


def main():
    x_test, y_test = load_dataset("mnist").x_test, load_dataset("mnist").y_test
    rng = np.random.default_rng(0)
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for label in range(10):
        for index in np.flatnonzero(y_test == label)[:PER_CLASS]:
            image, kind, extras = make(index, x_test[index, ..., 0], rng)
            name = f"{label}_{index:05d}.{'jpg' if kind == 'photo' else 'png'}"
            if kind == "photo":
                image.save(OUT / name, quality=int(rng.integers(60, 90)))
            else:
                image.save(OUT / name, optimize=True)
            rows.append(
                {"file": name, "label": label, "mnist_test_index": int(index), "kind": kind, "extras": "+".join(extras)}
            )
    with open(OUT / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} images in {OUT}")


if __name__ == "__main__":
    main()
