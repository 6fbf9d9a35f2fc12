"""Build models from the registries: input front, backbone, head; freeze and unfreeze at the cut point."""

import warnings
from dataclasses import dataclass
from pathlib import Path

import keras

from .backbones import keras_models_dir
from .data import sha256_of
from .errors import UsageError, WeightsUnavailable, first_line
from .layers import Preprocess, ToRGB


@dataclass(frozen=True)
class WeightsChoice:
    """Which initial weights a backbone gets: the label written in results and Keras's `weights=` value."""

    label: str
    keras_value: str | None


def choose_weights(spec, weights="imagenet", weights_files=None):
    """Pick a backbone's weights: a local file if given, else 'random' or 'imagenet' as asked."""
    path = (weights_files or {}).get(spec.name)
    if path:
        digest = sha256_of(path)[:12]
        return WeightsChoice(f"file:{Path(path).name} sha256:{digest}", str(path))
    if weights == "random":
        return WeightsChoice("random", None)
    return WeightsChoice("imagenet", "imagenet")


def build_base(spec, input_size, choice):
    """Construct a no-top backbone with global average pooling, loading the chosen weights.

    Raises WeightsUnavailable (the row is then skipped) when ImageNet weights cannot be had.
    """
    constructor = getattr(keras.applications, spec.constructor)
    kwargs = dict(include_top=False, input_shape=(input_size, input_size, 3), pooling="avg")
    try:
        with warnings.catch_warnings():  # a partial load ("Skipping ...") would leave random layers: fail
            warnings.filterwarnings("error", category=UserWarning, module=r"keras\.src\.saving")
            # MobileNets at a size without its own ImageNet file load the 224 px one, as `transferbench list` says
            warnings.filterwarnings("ignore", r"`input_shape` is undefined or non-square", UserWarning)
            return constructor(weights=choice.keras_value, **kwargs)
    except Exception as exc:
        if choice.keras_value != "imagenet":
            detail = str(exc).splitlines()[0].split(". ")[0][:200] if str(exc) else type(exc).__name__
            raise ValueError(
                f"weights file {choice.keras_value} does not fit {spec.name} (saved for another architecture or "
                f"input size?): {detail}"
            ) from None
        expected = keras_models_dir() / spec.weights_file_for(input_size)
        raise WeightsUnavailable(
            f"ImageNet weights for {spec.name} unavailable: expected {expected.name} in {expected.parent} "
            f"and the download failed ({first_line(exc, 240)}). Fix: put the file there, or pass "
            f"--weights-file {spec.name}=PATH, or --weights random for an explicit random-init row"
        ) from None


def verify_weights_file(spec, path, input_size):
    """Raise UsageError unless path is a weights file that loads fully into this backbone."""
    import h5py

    if not h5py.is_hdf5(path):
        raise UsageError(f"weights file for {spec.name} is not an HDF5 weights file (another format?): {path}")
    try:
        with h5py.File(path, "r"):
            pass
    except OSError as exc:
        raise UsageError(f"weights file for {spec.name} is corrupt or truncated ({exc}): {path}") from None
    try:
        build_base(spec, input_size, choose_weights(spec, "imagenet", {spec.name: path}))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        keras.backend.clear_session()


def input_front(raw_shape, input_size, mode):
    """Layers from raw dataset images (0..255, any size, 1 or 3 channels) to model input."""
    inputs = keras.Input(shape=raw_shape, name="image")
    x = inputs
    if tuple(raw_shape[:2]) != (input_size, input_size):
        x = keras.layers.Resizing(input_size, input_size, interpolation="bilinear", name="resize")(x)
    x = ToRGB(name="to_rgb")(x)
    return inputs, Preprocess(mode, name="preprocess")(x)


def build_head(spec, feature_dim, num_classes, hidden_dtype=None):
    """The seed's head for this backbone, as a model from pooled features to class probabilities. hidden_dtype: the
    hidden Dense layers' dtype policy (None: float32; 'mixed_bfloat16' for measuring bfloat16 heads)."""
    features = keras.Input(shape=(feature_dim,), name="features")
    x = features
    for i, (kind, value) in enumerate(spec.head):
        if kind == "dropout":
            x = keras.layers.Dropout(value, name=f"head_dropout_{i}")(x)
        elif kind == "dense":
            x = keras.layers.Dense(value, activation="relu", name=f"head_dense_{value}", dtype=hidden_dtype)(x)
        elif kind == "batchnorm":
            x = keras.layers.BatchNormalization(name=f"head_bn_{i}")(x)
        else:
            raise ValueError(f"unknown head layer kind {kind!r} in {spec.name}")
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(features, outputs, name="head")


def build_transfer_model(spec, base, *, raw_shape, num_classes, preprocess="backbone", head=None):
    """Full model: input front -> frozen base (inference mode) -> head (the seed's head for the
    backbone unless one is given, as a model from pooled features to probabilities). Returns (model, head)."""
    mode = spec.preprocess if preprocess == "backbone" else "unit"
    inputs, x = input_front(raw_shape, base.input_shape[1], mode)
    base.trainable = False
    features = base(x, training=False)  # BatchNormalization stays in inference mode, frozen or not
    head = head or build_head(spec, base.output_shape[-1], num_classes)
    model = keras.Model(inputs, head(features), name=f"{spec.name}_transfer")
    return model, head


def find_base(model):
    """The backbone sub-model inside a transfer model (the nested model that is not the head)."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model) and layer.name != "head"]
    if len(nested) != 1:
        raise ValueError(f"{model.name} does not hold exactly one backbone")
    return nested[0]


def from_raw_images(model, base_outputs, name=None, rewrite=None):
    """A model from the raw-image input of `model` to tensors inside its backbone, sharing weights
    (`rewrite`, if given, transforms the backbone part, e.g. small_conv.with_fast_convs)."""
    base = find_base(model)
    inner = keras.Model(base.input, base_outputs, name=f"{base.name}_{name or 'outputs'}")
    inner = rewrite(inner) if rewrite else inner
    return keras.Model(model.input, inner(model.get_layer("preprocess").output), name=name)


def _conv_owner(model):
    """The backbone inside a transfer model, or the model itself (a scratch CNN)."""
    try:
        return find_base(model)
    except ValueError:
        return None


def conv_layer_names(model):
    """Names of the convolution layers of a model's backbone (or of a scratch CNN), input side first."""
    owner = _conv_owner(model) or model
    return [l.name for l in owner.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D))]


def conv_activations(model, names):
    """A model from raw images to the outputs of the named convolution layers (feature maps), sharing weights."""
    base = _conv_owner(model)
    if base is None:
        return keras.Model(model.input, [model.get_layer(n).output for n in names])
    return from_raw_images(model, [base.get_layer(n).output for n in names], name="feature_maps")


def unfreeze_after_cut(base, cut_after):
    """Make the layers after `cut_after` trainable, all others frozen; return the names of the layers
    that now train (those with weights: pooling and activations have none and keep auto-made names).

    BatchNormalization layers stay frozen, which in Keras 3 keeps them in inference mode (moving
    statistics used and never updated). Calling the base with training=False is not enough: Keras 3
    lets the outer model's training=True override it (keras-team/keras#20285).
    """
    names = [layer.name for layer in base.layers]
    if cut_after not in names:
        raise ValueError(f"cut point {cut_after!r} is not a layer of {base.name}")
    cut = names.index(cut_after)
    base.trainable = True
    for index, layer in enumerate(base.layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index > cut and not is_bn
    return [layer.name for layer in base.layers if layer.trainable and layer.weights]


def count_params(model):
    """Total, trainable and non-trainable parameter counts."""
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    total = model.count_params()
    return {"total_params": total, "trainable_params": trainable, "non_trainable_params": total - trainable}
