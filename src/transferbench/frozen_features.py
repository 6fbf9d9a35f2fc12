"""The frozen features rows share: computed once per backbone x input size x weights (on the engine that passed its
check), cached under a key of everything that changes them, and recorded with the engine that really made them."""

import sys
import time

import keras
import numpy as np

from .backbones import keras_models_dir
from .config import auto_extract_batch
from .data import sha256_of
from .engines import resolve_engine, why_tensorflow
from .feature_cache import aligned_rows, feature_key
from .features import check_cacheable, extract, extractor_for, largest_feature
from .records import all_but_zero

SPLIT_NAMES = ("train", "val", "test")


def weights_identity(spec, cfg, choice):
    """What identifies the weights for the cache key: file hash, ImageNet file hash, or random + seed."""
    if choice.keras_value == "imagenet":
        cached = keras_models_dir() / spec.weights_file_for(cfg.input_size)
        return f"imagenet:{sha256_of(cached) if cached.is_file() else 'unknown'}"
    return f"random:seed={cfg.seed}" if choice.keras_value is None else choice.label


def pass_images(ctx):
    """(split names, image arrays) of a frozen pass: the pool and test images with a pool (the grid), else the
    cell's own splits."""
    if ctx.index is not None:
        return ("pool", "test"), [ctx.pool, ctx.splits.x_test]
    return SPLIT_NAMES, [getattr(ctx.splits, f"x_{split}") for split in SPLIT_NAMES]


def pass_engine(cfg, spec, ctx):
    """The engine a frozen pass tries (engines.resolve_engine), given how many images it runs over."""
    images = sum(len(split) for split in pass_images(ctx)[1]) if cfg.engine == "auto" else None  # auto's rule only
    return resolve_engine(cfg.engine, spec, cfg.input_size, cfg.precision, images)


def frozen_key(spec, cfg, ctx, choice, model):
    """Cache key of a frozen backbone's features: everything that changes them."""
    return feature_key(
        backbone=spec.name,
        weights=weights_identity(spec, cfg, choice),
        input_size=cfg.input_size,
        preprocess=model.get_layer("preprocess").mode,
        data=ctx.data_digest,
        keras=keras.__version__,
        tensorflow=ctx.tf_version,
        engine=pass_engine(cfg, spec, ctx),
        **({"precision": "int8"} if cfg.precision == "int8" else {}),  # fp32 keys stay as they were
    )


def cached_features(model, cfg, ctx, key, cut_after, label, spec):
    """Cached pooled features (and cut activations when cut_after is set) for every split.

    With a pool (the grid of budgets and seeds), they are computed once over the pool and the test
    images and sliced with this cell's indices; otherwise over the cell's own splits."""
    sources, image_sets = pass_images(ctx)
    needed = [f"pooled_{s}" for s in sources] + ([f"cut_{s}" for s in sources] if cut_after else [])
    int8 = cfg.precision == "int8"
    needed += ["pooled_test_fp32"] if int8 else []
    check_cacheable(model, cut_after)  # before any use, cached or computed: features must be exact
    first_use = key not in ctx.cache.memory  # computed or read from disk now: notices print once, not per grid cell
    entry = ctx.cache.get(key, needed)
    seconds, hit = 0.0, entry is not None
    engine = pass_engine(cfg, spec, ctx)
    used = {"engine": engine, "engine_check": "features read from the cache", "precision": cfg.precision}
    if entry is not None:  # what the pass that made them really ran on (a fallback is kept under its key)
        used.update({name: str(entry[f"used_{name}"]) for name in ("engine", "precision") if f"used_{name}" in entry})
    else:
        extractor = extractor_for(model, cut_after)
        batch = cfg.extract_batch_size or auto_extract_batch(cfg.input_size)
        start = time.perf_counter()
        entry, choice = {}, []
        plain = extractor_for(model, cut_after, fast_convs=False) if engine == "openvino" else None
        passes = extract(
            extractor,
            image_sets,
            batch_size=batch,
            label=label,
            engine=engine,
            threads=cfg.cpus_per_row,
            choice=choice,
            plain=plain,
            precision=cfg.precision,
        )
        int8 = int8 and choice[0].engine == "openvino"
        used = {**choice[0].record(), "precision": "int8" if int8 else "fp32"}
        if engine == "tf":
            used["engine_check"] = why_tensorflow(cfg.engine, spec, cfg.input_size, sum(map(len, image_sets)))
        entry.update(used_engine=np.array(used["engine"]), used_precision=np.array(used["precision"]))
        for split, outputs in zip(sources, passes):
            entry[f"pooled_{split}"] = outputs[-1]
            if cut_after:
                entry[f"cut_{split}"] = outputs[0]
        if int8:  # the same test images through TensorFlow in fp32: the row measures what int8 cost
            (reference,) = extract(extractor, [ctx.splits.x_test], batch_size=batch, label=f"{label} fp32 reference")
            entry["pooled_test_fp32"] = reference[-1]
        seconds = time.perf_counter() - start
        counts = " + ".join(f"{len(images):,} {split}" for split, images in zip(sources, image_sets))
        where = f"{cfg.dataset} at {cfg.input_size} px, {used['engine']} {used['precision']}"
        ctx.cache.put(key, entry, description=f"{label}, {where}: {counts} images")
    if ctx.index is not None:
        kinds = ["pooled", "cut"] if cut_after else ["pooled"]
        entry = {
            **{
                f"{kind}_{split}": aligned_rows(entry[f"{kind}_pool"], ctx.index[split])  # a tensor can share it
                for kind in kinds
                for split in ("train", "val")
            },
            **{name: values for name, values in entry.items() if name.endswith(("_test", "_test_fp32"))},
        }
    used["feature_max"] = largest_feature(entry["pooled_train"])
    if all_but_zero(used["feature_max"]) and first_use:
        print(
            f"{label}: the pooled features are all but zero (largest "
            f"{used['feature_max']:.1e}), so a head on them can only guess (a probe, which standardises each "
            "feature, may still learn); random weights at small input sizes do this: use --weights imagenet or a "
            "larger --input-size",
            file=sys.stderr,
        )
    return entry, seconds, hit, used
