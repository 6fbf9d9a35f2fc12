"""MNIST's digit convention applied to a person's image: find the ink, crop it, scale its box into 20x20 keeping the
aspect ratio, and centre it by its centre of mass in 28x28, light on dark. Models trained on MNIST read a digit
written on a canvas or photographed on paper only after this (LeCun et al.'s description of MNIST)."""

import numpy as np
from PIL import Image
from scipy import ndimage

BOX = 20  # the digit's bounding box is scaled to fit BOX x BOX
SIDE = 28  # and centred by mass in SIDE x SIDE
WORK_SIDE = 384  # images are reduced to at most this side before the ink is looked for (bounded cost)
MIN_CONTRAST = 24  # ink must differ from its background by this many grey levels (of 255) somewhere
MIN_STROKE = 1.8  # thinner strokes in the 20 px box are thickened once


class NoInk(ValueError):
    """An image in which no ink could be found (blank, uniform, or too faint)."""


def otsu(values):
    """Otsu's threshold of uint8-range values: the level that maximises the between-class variance."""
    histogram = np.bincount(np.clip(values, 0, 255).astype(np.uint8).ravel(), minlength=256).astype(np.float64)
    weights = np.cumsum(histogram)
    means = np.cumsum(histogram * np.arange(256))
    total, total_mean = weights[-1], means[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mean * weights - total * means) ** 2 / (weights * (total - weights))
    return int(np.nanargmax(between))


def _reduced(gray):
    """The grayscale array, shrunk (area-averaged) so its longer side is at most WORK_SIDE."""
    height, width = gray.shape
    scale = min(1.0, WORK_SIDE / max(height, width))
    if scale == 1.0:
        return gray.astype(np.float32)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX), np.float32)


def ink_strength(gray):
    """Per pixel, how far it is from the local background towards the ink (0 = background), on a reduced copy.

    The background is estimated by a grey closing (dark ink) or opening (light ink) wider than any stroke, so
    uneven light, a shadow or paper texture is subtracted rather than taken for ink."""
    image = _reduced(gray)
    width = max(9, max(image.shape) // 6)
    smooth = ndimage.uniform_filter(image, 3)
    if _bright_background(image):  # dark ink on paper or a white canvas
        background = ndimage.grey_closing(smooth, size=(width, width))
        return np.clip(background - image, 0, None)
    background = ndimage.grey_opening(smooth, size=(width, width))
    return np.clip(image - background, 0, None)


def _bright_background(image):
    """True when the bulk of the image (its median) is nearer its brightest than its darkest marks: dark ink
    on paper or a white canvas. Extremes of a 3x3 median-filtered copy, so single noisy pixels do not count
    and a thin digit that is 0.05% of the pixels still does."""
    filtered = ndimage.median_filter(image, size=3)
    low, middle, high = float(filtered.min()), float(np.median(filtered)), float(filtered.max())
    return middle - low > high - middle


def ink_mask(strength):
    """(pixels of ink, threshold): above Otsu's threshold of the ink strength, with specks and marks that touch
    the border (a frame, the table around the paper) removed."""
    if strength.max() < MIN_CONTRAST:
        raise NoInk("no ink found: the image is blank or uniform (write or draw a darker, larger digit)")
    scale = 255.0 / strength.max()
    threshold = max(otsu(strength * scale) / scale, MIN_CONTRAST)
    mask = strength > threshold
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        raise NoInk("no ink found: the image is blank or uniform")
    areas = ndimage.sum(mask, labels, index=np.arange(1, count + 1))
    edge = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))) - {0}
    keep = [i + 1 for i in range(count) if areas[i] >= 0.05 * areas.max() and (i + 1) not in edge]
    if not keep:  # every mark touches the border: a digit cut by the frame is still the digit
        keep = [i + 1 for i in range(count) if areas[i] >= 0.05 * areas.max()]
    return np.isin(labels, keep), threshold


def stroke_width(box):
    """Mean stroke width in pixels of a light-on-dark digit image: twice the ink area over its perimeter."""
    ink = box > 127
    inner = ndimage.binary_erosion(ink, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    perimeter = max(int((ink & ~inner).sum()), 1)
    return 2.0 * ink.sum() / perimeter


def normalize_digit(gray):
    """A person's digit (uint8 grayscale, any size, dark on light or light on dark) as an MNIST image: uint8
    SIDE x SIDE, light on dark, the ink's box scaled into BOX x BOX and centred by its centre of mass."""
    strength = ink_strength(np.asarray(gray, np.uint8))
    mask, threshold = ink_mask(strength)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    near = ndimage.binary_dilation(mask, iterations=2)[top:bottom, left:right]  # the kept marks and their edges
    ink = np.clip(strength[top:bottom, left:right] - threshold / 2, 0, None) * near  # grey edges, no paper noise
    core = np.percentile(ink[mask[top:bottom, left:right]], 75)
    ink = np.clip(ink * (255.0 / max(core, 1e-6)), 0, 255).astype(np.uint8)
    height, width = ink.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    box = np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS), np.float32).clip(0, 255)
    if stroke_width(box) < MIN_STROKE:  # a thin pen: MNIST's strokes are 2-3 px wide in the 20 px box
        box = ndimage.grey_dilation(box, size=(2, 2))
    out = np.zeros((SIDE, SIDE), np.float32)
    cy, cx = ndimage.center_of_mass(box) if box.sum() > 0 else ((size[1] - 1) / 2, (size[0] - 1) / 2)
    y0 = int(np.clip(round(SIDE / 2 - cy), 0, SIDE - size[1]))  # MNIST: mass centre at pixel (14, 14)
    x0 = int(np.clip(round(SIDE / 2 - cx), 0, SIDE - size[0]))
    out[y0 : y0 + size[1], x0 : x0 + size[0]] = box
    return out.round().astype(np.uint8)
