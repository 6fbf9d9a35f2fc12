"""Read image files as a model's input, by the convention of the data it was trained on: MNIST's digit
normalisation (digits.py) for digit datasets, a plain resize for the others; unreadable files are errors."""

import io
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .dataset_readers import IMAGE_SUFFIXES, image_files
from .digits import NoInk, normalize_digit

MAX_PIXELS = 50_000_000  # refuse larger images before decoding them (decompression bombs, huge headers)
# how a person's image becomes a model's input, as its training data were made: MNIST's digit normalisation; a
# resize, grey pictures shown light on dark as those datasets are; or exactly as an image folder was read
CONVENTIONS = ("digit", "resize", "folder")


class ImageError(Exception):
    """An image file that cannot be used, with the reason."""


def load_image(source, shape, convention="resize", normalize=True, max_pixels=MAX_PIXELS):
    """Read an image (a file path, or the bytes of an upload) as uint8 of `shape` (H, W, C) the way the model's
    training images were made.

    convention "digit" with normalize: MNIST's normalisation (ink found, cropped, scaled into 20x20, centred by
    mass, light on dark). "folder": as an image folder's images were read (folder_pixels). Otherwise a resize of
    the whole picture, a dark-on-light one inverted when C == 1. Every image is first taken as shown (as_shown)."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("file is empty")
        opened = io.BytesIO(source)
    else:
        opened = Path(source)
        if opened.is_dir():
            raise ImageError(f"a folder with no image files in it ({', '.join(sorted(IMAGE_SUFFIXES))})")
        if not opened.is_file():
            raise ImageError("file not found")
        if opened.stat().st_size == 0:
            raise ImageError("file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(opened) as image:
                if image.width * image.height > max_pixels:
                    raise ImageError(f"image is {image.width}x{image.height}, over the {max_pixels:,}-pixel limit")
                if convention == "folder":
                    return folder_pixels(image, shape[:2], shape[-1] == 1)
                image = as_shown(image)
                if convention == "digit" and normalize:
                    return _as_shape(normalize_digit(np.asarray(image.convert("L"), np.uint8)), shape)
                image = image.convert("L" if shape[-1] == 1 else "RGB")
                image = image.resize((shape[1], shape[0]), Image.Resampling.LANCZOS)
                pixels = np.asarray(image, dtype=np.uint8)
    except ImageError:
        raise
    except NoInk as exc:
        raise ImageError(str(exc)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"image is over the {max_pixels:,}-pixel limit (refused before decoding)") from None
    except UnidentifiedImageError:
        raise ImageError("not a readable image (not PNG, JPEG or another format Pillow knows)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"cannot decode the image ({exc})") from None
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if shape[-1] == 1 and _is_dark_on_light(pixels):
        pixels = 255 - pixels
    return pixels


def is_grey(image):
    """Whether an opened image has one channel (a header is enough)."""
    return image.mode in ("L", "LA", "1", "I", "F") or image.mode.startswith("I;16")


def as_shown(image):
    """An opened image as a viewer shows it: turned upright by its EXIF orientation (phone photos), any
    transparency flattened onto white (black ink on a transparent background is a digit, not a black square), and
    16-bit grey scaled to 8 bits (Pillow's own conversion clips it: most of a 16-bit scan turns white)."""
    image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I;16") or image.mode == "I":
        image = Image.fromarray(np.clip(np.rint(np.asarray(image, np.float64) / 257), 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        flat = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
        image = flat.convert("L" if image.mode == "LA" else "RGB")
    return image


def folder_pixels(image, size, grayscale):
    """A just-opened image as an image folder dataset holds it: as shown (as_shown), grey or RGB, resized bilinearly
    to size (H, W), with a channel axis. The folder reader and predict both use it, so a new photo meets the model as
    its training images did. A JPEG is decoded at the smallest DCT scale still larger than the size: a 12-megapixel
    photo 3x faster."""
    image.draft(image.mode, (max(size),) * 2)
    image = as_shown(image).convert("L" if grayscale else "RGB")
    pixels = np.asarray(image.resize((size[1], size[0]), Image.Resampling.BILINEAR), np.uint8)
    return pixels[..., None] if grayscale else pixels


def _as_shape(digit, shape):
    """A 28x28 light-on-dark digit at the model's input shape (resized, channels repeated)."""
    if digit.shape != tuple(shape[:2]):
        digit = np.asarray(Image.fromarray(digit).resize((shape[1], shape[0]), Image.Resampling.BILINEAR))
    return np.repeat(digit[..., None], shape[-1], axis=-1)


def _is_dark_on_light(pixels):
    """True when the border (background) is brighter than the middle: a digit drawn dark on light."""
    border = np.concatenate([pixels[0].ravel(), pixels[-1].ravel(), pixels[:, 0].ravel(), pixels[:, -1].ravel()])
    return float(border.mean()) > 127


@dataclass(frozen=True)
class Prediction:
    """One image's answer: the top classes with probabilities and the image the model saw, or why it could not
    be read."""

    file: str
    top: list | None = None  # [(class name, probability)], most probable first
    error: str | None = None
    seen: object = field(default=None, repr=False)  # the uint8 array fed to the model (after its input convention)

    def to_dict(self):
        """JSON form: {'file', 'top': [{'class', 'probability'}]} or {'file', 'error'}."""
        if self.error is not None:
            return {"file": self.file, "error": self.error}
        return {"file": self.file, "top": [{"class": c, "probability": p} for c, p in self.top]}


def top_classes(probabilities, class_names, k=3):
    """The k most probable classes as [(class name, probability)]."""
    order = np.argsort(-probabilities)[:k]
    return [(class_names[i], float(probabilities[i])) for i in order]


def expand_folders(paths):
    """Each folder replaced by the image files directly in it (sorted); a folder without any stays, to be reported."""
    return [f for path in paths for f in ((image_files(path) or [path]) if Path(path).is_dir() else [path])]


def predict_files(model, paths, class_names, k=3, *, convention="resize", normalize=True, show=None, forward=None):
    """A Prediction per file, in order; unreadable files do not stop the others. show: a folder where each image
    the model saw is saved as PNG (its file name + .seen.png). forward: images -> probabilities (default: the
    model's own predict)."""
    shape = tuple(model.input_shape[1:])
    read = []
    for path in expand_folders(paths):
        try:
            read.append(Prediction(str(path), seen=load_image(path, shape, convention, normalize)))
        except ImageError as exc:
            read.append(Prediction(str(path), error=str(exc)))
    ok = [item for item in read if item.error is None]
    forward = forward or (lambda images: model.predict(images, verbose=0))
    answers = iter(forward(np.stack([item.seen for item in ok])) if ok else [])
    results = [item if item.error else replace(item, top=top_classes(next(answers), class_names, k)) for item in read]
    if show is not None:
        Path(show).mkdir(parents=True, exist_ok=True)
        for item in ok:
            Image.fromarray(item.seen.squeeze(-1) if item.seen.shape[-1] == 1 else item.seen).save(
                Path(show) / (Path(item.file).name + ".seen.png")
            )
    return results
