"""Classify image files with a saved model: any size, grayscale or colour, dark-on-light digits inverted."""

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 50_000_000  # refuse larger images before decoding them (decompression bombs, huge headers)


class ImageError(Exception):
    """An image file that cannot be used, with the reason."""


def load_image(path, shape):
    """Read an image file as uint8 of `shape` (H, W, C), light-on-dark like MNIST when C == 1."""
    path = Path(path)
    if not path.is_file():
        raise ImageError("file not found")
    if path.stat().st_size == 0:
        raise ImageError("file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ImageError(f"image is {image.width}x{image.height}, over the {MAX_PIXELS:,}-pixel limit")
                image = image.convert("L" if shape[-1] == 1 else "RGB")
                image = image.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
                pixels = np.asarray(image, dtype=np.uint8)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"image is over the {MAX_PIXELS:,}-pixel limit (refused before decoding)") from None
    except UnidentifiedImageError:
        raise ImageError("not a readable image (not PNG, JPEG or another format Pillow knows)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"cannot decode the image ({exc})") from None
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if shape[-1] == 1 and _is_dark_on_light(pixels):
        pixels = 255 - pixels
    return pixels


def _is_dark_on_light(pixels):
    """True when the border (background) is brighter than the middle: a digit drawn dark on light."""
    border = np.concatenate([pixels[0].ravel(), pixels[-1].ravel(), pixels[:, 0].ravel(), pixels[:, -1].ravel()])
    return float(border.mean()) > 127


def top_classes(probabilities, class_names, k=3):
    """The k most probable classes as [{'class', 'probability'}]."""
    order = np.argsort(-probabilities)[:k]
    return [{"class": class_names[i], "probability": float(probabilities[i])} for i in order]


def predict_files(model, paths, class_names, k=3):
    """Per file: {'file', 'top': [...]} or {'file', 'error': reason}; unreadable files do not stop the others."""
    shape = tuple(model.input_shape[1:])
    results, images, slots = [], [], []
    for path in paths:
        try:
            images.append(load_image(path, shape))
            slots.append(len(results))
            results.append({"file": str(path)})
        except ImageError as exc:
            results.append({"file": str(path), "error": str(exc)})
    if images:
        probabilities = model.predict(np.stack(images), verbose=0)
        for slot, p in zip(slots, probabilities):
            results[slot]["top"] = top_classes(p, class_names, k)
    return results
