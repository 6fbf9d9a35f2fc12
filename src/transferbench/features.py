"""Frozen forward passes computed once: pooled features and, for fine-tuning, cut-point activations.

Exact only while the frozen part is deterministic: no random augmentation before the base and every
BatchNormalization layer frozen (inference mode). `check_cacheable` enforces both.
"""

import keras

from . import interrupts
from .feature_cache import aligned_empty
from .layers import Preprocess, ToRGB
from .modeling import find_base, from_raw_images
from .progress import Counter
from .small_conv import with_fast_convs

FRONT_LAYERS = (keras.layers.InputLayer, keras.layers.Resizing, ToRGB, Preprocess)


def largest_feature(features):
    """The largest magnitude among these features: below FLAT_FEATURES, the backbone's output is all but zero
    (random weights at small input sizes do this) and a head on it can only guess the most frequent class."""
    return float(max(features.max(), -features.min())) if features.size else 0.0  # no |x| copy of the array


def check_cacheable(model, cut_after=None):
    """Raise ValueError unless the part of `model` before the head (or before `cut_after`) is deterministic."""
    base = find_base(model)
    for layer in model.layers:
        if layer is not base and layer.name != "head" and not isinstance(layer, FRONT_LAYERS):
            raise ValueError(
                f"layer {layer.name} ({type(layer).__name__}) before the base may be random: "
                "cached features would be wrong; use --no-cache"
            )
    names = [layer.name for layer in base.layers]
    frozen_part = base.layers if cut_after is None else base.layers[: names.index(cut_after) + 1]
    for layer in frozen_part:
        if layer.trainable and layer.weights:
            raise ValueError(f"layer {layer.name} is trainable, so its outputs change during training")
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
            raise ValueError(f"BatchNormalization layer {layer.name} is not in inference mode")


def extractor_for(model, cut_after=None, fast_convs=True):
    """A model from raw images to [pooled features] or [cut activations, pooled features], sharing weights;
    tiny-map 3x3 convolutions run as exact matrix products (small_conv.py) for TensorFlow unless fast_convs is
    False (OpenVINO converts the plain convolutions and runs them fast itself)."""
    base = find_base(model)
    outputs = [base.output] if cut_after is None else [base.get_layer(cut_after).output, base.output]
    return from_raw_images(model, outputs, name="extractor", rewrite=with_fast_convs if fast_convs else None)


def extract(
    extractor,
    image_sets,
    *,
    batch_size=256,
    label="features",
    engine="tf",
    threads=None,
    choice=None,
    plain=None,
    precision="fp32",
):
    """Run extractor over several uint8 image arrays in batches; return, per array, a list of outputs.

    engine: 'tf' (a direct tf.function call, traced once for all arrays) or 'openvino' (checked against
    TensorFlow on a sample first; engines.py), which converts `plain` (the extractor without the small_conv
    rewrite) when given. choice: a list that receives the EngineChoice. precision 'int8': OpenVINO quantized on
    images from the first array. Progress goes to stdout."""
    from .engines import choose

    # no larger than the largest array: OpenVINO splits a batch across its streams at this size, and a small
    # dataset's one batch padded to a larger one would run on one stream, mostly padding
    batch_size = max(1, min(batch_size, max(len(images) for images in image_sets)))
    forward, used = choose(
        extractor, image_sets[0], engine, threads, label, plain=plain, precision=precision, batch=batch_size
    )
    if choice is not None:
        choice.append(used)
    total = sum(len(images) for images in image_sets)
    kind = f"{used.engine}, int8" if precision == "int8" and used.engine == "openvino" else used.engine
    if used.speeds:
        kind += f", {used.speeds.ratio:.2f}x tensorflow's speed on a batch of {used.speeds.images}"
    print(f"{label}: one forward pass over {total:,} images ({kind})", flush=True)
    progress = Counter(total, "image", label)
    done, results = 0, []
    with interrupts.deferred():
        for images in image_sets:
            results.append(_extract_one(forward, extractor, images, batch_size, progress, done))
            done += len(images)
    return results


def _extract_one(forward, extractor, images, batch_size, progress, done):
    """Outputs of `forward` over one image array, batch by batch; stops between batches on Ctrl-C."""
    outputs = [aligned_empty((len(images), *o.shape[1:])) for o in extractor.outputs]  # a tensor can share them
    for begin in range(0, len(images), batch_size):
        for out, values in zip(outputs, forward(images[begin : begin + batch_size])):
            out[begin : begin + len(values)] = values
        progress.update(done + min(begin + batch_size, len(images)))
        interrupts.check()
    return outputs
