"""How each kind of row trains: on the full model every epoch, or on features computed once (cached).

Every runner takes (spec, cfg, ctx) and returns (model, updates, test probabilities); `experiment.run_row`
saves the files.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import keras

from .backbones import BackboneSpec, get_backbone
from .evaluate import predict_probabilities
from .feature_cache import feature_key
from .frozen_features import cached_features, frozen_key
from .head_search import HeadSearch
from .modeling import WeightsChoice, build_base, build_transfer_model, choose_weights, count_params, find_base
from .probe import probe_head, timed_probe
from .recipes import cosine_rate, schedule
from .scratch import SCRATCH_MODELS, cosine_schedule, modern_batch_size
from .training import compile_model, fit, prepare_fine_tuning, top_model


@dataclass
class RowContext:
    """What a runner reads besides its spec and config, derived once from the row's inputs."""

    splits: object
    pool: object
    index: dict
    cache: object
    run_dir: Path
    data_digest: str
    tf_version: str
    fine_tune_targets: list
    parent: object = None  # the parent RowResult of a fine-tuned row

    @classmethod
    def of(cls, spec, cfg, inputs, targets):
        """The context of one row from its RowInputs."""
        import tensorflow as tf

        data = inputs.data
        return cls(
            data.splits,
            data.pool_x,
            {"train": data.train, "val": data.val},
            inputs.cache,
            Path(inputs.run_dir),
            data.digest,
            tf.__version__,
            targets,
            inputs.parent,
        )


def _num_classes(splits):
    """Number of classes seen in the labels."""
    return int(max(splits.y_train.max(), splits.y_test.max())) + 1


def _fit(model, ctx, cfg, x_train, x_val, epochs, patience, row, batch_size=None, callbacks=()):
    """fit() with the run's batch size on the given inputs and the split's labels (+ TensorBoard if asked),
    in the training loop the config names (graph: many steps per graph call; keras: Keras's own fit)."""
    callbacks = list(callbacks)
    if cfg.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(Path(ctx.run_dir) / "tensorboard" / row.id)))
    return fit(
        model,
        (x_train, ctx.splits.y_train),
        (x_val, ctx.splits.y_val),
        epochs=epochs,
        batch_size=batch_size or cfg.batch_size,
        patience=patience,
        callbacks=callbacks,
        in_graph=cfg.training_loop == "graph",
    )


def _fit_lr_grid(model, head, ctx, cfg, inputs, row, steps_per_execution):
    """Train `model` (whose only trainable part is `head`) once per learning rate of the recipe, each from
    the same initial head weights and seed; keep the run with the lowest validation loss.

    The record's train_seconds covers every candidate (the real cost); lr_grid gives each one's best
    validation loss, lr_epochs the epochs it trained."""
    plan = schedule(cfg, "frozen")
    initial = head.get_weights()
    best, seconds, tried, epochs = None, 0.0, {}, {}
    for lr in plan.learning_rates:
        head.set_weights(initial)
        keras.utils.set_random_seed(cfg.seed)
        compile_model(model, lr, steps_per_execution=steps_per_execution)
        record = _fit(model, ctx, cfg, *inputs, plan.epochs, plan.patience, row, callbacks=_decay(plan, lr))
        seconds += record["train_seconds"]
        score = min(record["history"]["val_loss"]) if plan.patience else record["history"]["val_loss"][-1]
        tried[f"{lr:g}"], epochs[f"{lr:g}"] = score, record["epochs_run"]
        if best is None or score < best[0]:
            best = (score, lr, record, head.get_weights())
    _, lr, record, weights = best
    head.set_weights(weights)
    several = len(tried) > 1
    return {
        **record,
        "train_seconds": seconds,
        "learning_rate": lr,
        "lr_grid": tried if several else None,
        "lr_epochs": epochs if several else None,
    }


def _decay(plan, lr):
    """The callbacks that lower `lr` along the plan's cosine, one step per epoch (none when the plan holds it)."""
    if plan.decay == "constant":
        return []
    return [keras.callbacks.LearningRateScheduler(lambda epoch: cosine_rate(lr, epoch, plan.epochs))]


def _train_head(head, ctx, cfg, features, row):
    """Train a head on cached features: the learning-rate candidates side by side when there are several and the
    config asks for it (head_search.py), otherwise one after another through the training loop."""
    plan = schedule(cfg, "frozen")
    if len(plan.learning_rates) == 1 or cfg.head_search == "sequential":
        record = _fit_lr_grid(head, head, ctx, cfg, features, row, 16)
        search = "sequential" if len(plan.learning_rates) > 1 else None
        return {**record, "head_search": search, "batch_size": cfg.batch_size}
    labels = (ctx.splits.y_train, ctx.splits.y_val)
    search = HeadSearch(
        head,
        plan.learning_rates,
        epochs=plan.epochs,
        patience=plan.patience,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        cut_window=plan.cut_window,
        decay=plan.decay,
    )
    search.fit(*zip(features, labels))
    return {**search.record(), "head_search": "side-by-side", "batch_size": cfg.batch_size}


def _evaluate(model, inputs, updates, batch_size=256):
    """Test probabilities of model on inputs; the seconds it took go into updates['evaluate_seconds']."""
    start = time.perf_counter()
    probabilities = predict_probabilities(model, inputs, batch_size=batch_size)
    updates["evaluate_seconds"] = time.perf_counter() - start
    return probabilities


def _evaluate_head(head, entry, ctx, updates):
    """Test probabilities of a head on the cached test features; with int8 features, also its accuracy on the
    fp32 ones (updates['fp32_test_accuracy'])."""
    if "pooled_test_fp32" in entry:
        fp32 = predict_probabilities(head, entry["pooled_test_fp32"], batch_size=1024)
        updates["fp32_test_accuracy"] = float((fp32.argmax(-1) == ctx.splits.y_test).mean())
    return _evaluate(head, entry["pooled_test"], updates, batch_size=1024)


def run_scratch(row, cfg, ctx):
    """A model from scratch (its registry entry says how it trains): fit on the raw images (nothing to cache)."""
    splits = ctx.splits
    spec = SCRATCH_MODELS[row.name]
    plan = schedule(cfg, "scratch")
    model = spec.build(splits.x_train.shape[1:], _num_classes(splits), cfg.input_size)
    batch_size = cfg.batch_size
    if spec.batch_rule == "steps":
        batch_size = modern_batch_size(cfg.batch_size, len(splits.y_train))
    if spec.schedule == "cosine":
        steps = plan.epochs * -(-len(splits.y_train) // batch_size)
        compile_model(model, cosine_schedule(spec.peak_lr, steps))
    else:
        compile_model(model, plan.learning_rates[0])
    updates = {"weights": "scratch", "batch_size": batch_size, **count_params(model)}
    fitted = _fit(model, ctx, cfg, splits.x_train, splits.x_val, plan.epochs, plan.patience, row, batch_size)
    updates.update(fitted)
    return model, updates, _evaluate(model, splits.x_test, updates)


def _frozen_model(row, cfg, ctx):
    """Build the phase-1 model of a backbone row; return (spec, model, head, weights choice)."""
    spec = get_backbone(row.backbone)
    choice = choose_weights(spec, cfg.weights, cfg.weights_files)
    base = build_base(spec, cfg.input_size, choice)
    model, head = build_transfer_model(
        spec,
        base,
        raw_shape=ctx.splits.x_train.shape[1:],
        num_classes=_num_classes(ctx.splits),
        preprocess=cfg.preprocess,
    )
    return spec, model, head, choice


def run_frozen_full(row, cfg, ctx):
    """Phase 1 as the course runs it: fit the full model, the frozen base recomputed every epoch."""
    spec, model, _, choice = _frozen_model(row, cfg, ctx)
    splits = ctx.splits
    updates = {"weights": choice.label, **count_params(model)}
    updates.update(_fit_lr_grid(model, model.get_layer("head"), ctx, cfg, (splits.x_train, splits.x_val), row, 1))
    return model, updates, _evaluate(model, splits.x_test, updates)


@dataclass
class FrozenPass:
    """A backbone row's phase-1 model and its features, computed or read from the cache: what the frozen row, its
    probe and a cluster's one extraction share."""

    spec: BackboneSpec
    model: keras.Model
    head: keras.Model
    choice: WeightsChoice
    key: str
    entry: dict
    seconds: float
    hit: bool
    used: dict  # the engine fields of the pass that made the features

    def fields(self, model):
        """A row's record fields for its weights, parameter counts (of `model`) and features."""
        return {
            "weights": self.choice.label,
            **count_params(model),
            "feature_key": self.key,
            "feature_seconds": self.seconds,
            "features_from_cache": self.hit,
            **self.used,
        }


def _frozen_pass(row, cfg, ctx):
    """The row's frozen model and its cached features; one entry (cut activations included when the backbone is
    fine-tuned) serves the frozen row, its probe and its fine-tuning."""
    spec, model, head, choice = _frozen_model(row, cfg, ctx)
    cut = spec.cut_after if spec.name in ctx.fine_tune_targets else None
    key = frozen_key(spec, cfg, ctx, choice, model)
    weights = f"{choice.label}, seed {cfg.seed}" if choice.label == "random" else choice.label  # random: per seed
    entry, seconds, hit, used = cached_features(model, cfg, ctx, key, cut, f"{spec.name} ({weights})", spec)
    return FrozenPass(spec, model, head, choice, key, entry, seconds, hit, used)


def extract_for(row, cfg, ctx):
    """Compute (or read) the cached features every row of this backbone x size x weights uses, as its frozen row
    would: (key, entry, seconds, engine fields). A distributed executor runs this once per cluster and shares
    the entry."""
    frozen = _frozen_pass(row, cfg, ctx)
    return frozen.key, ctx.cache.memory[frozen.key], frozen.seconds, frozen.used


def run_frozen_cached(row, cfg, ctx):
    """Phase 1 on cached features: one forward pass of the frozen base, then the head trains alone."""
    frozen = _frozen_pass(row, cfg, ctx)
    entry, head = frozen.entry, frozen.head
    updates = frozen.fields(frozen.model)
    record = _train_head(head, ctx, cfg, (entry["pooled_train"], entry["pooled_val"]), row)
    record["train_seconds"] += frozen.seconds
    updates.update(record)
    return frozen.model, updates, _evaluate_head(head, entry, ctx, updates)


def run_probe(row, cfg, ctx):
    """Linear probe: logistic regression on the cached pooled features, C chosen on validation."""
    frozen = _frozen_pass(row, cfg, ctx)
    entry, splits = frozen.entry, ctx.splits
    weights, bias, record = timed_probe(
        (entry["pooled_train"], splits.y_train), (entry["pooled_val"], splits.y_val), cfg.seed
    )
    model, head = build_transfer_model(
        frozen.spec,
        find_base(frozen.model),
        raw_shape=splits.x_train.shape[1:],
        num_classes=weights.shape[1],
        preprocess=cfg.preprocess,
        head=probe_head(weights, bias),
    )
    record["train_seconds"] += frozen.seconds
    updates = {**frozen.fields(model), **record}
    return model, updates, _evaluate_head(head, entry, ctx, updates)


def _phase_one_model(row, ctx):
    """Load the phase-1 model of a fine-tuning row from the run folder and unfreeze it after the cut."""
    spec = get_backbone(row.backbone)
    model = keras.models.load_model(Path(ctx.run_dir) / "models" / f"{row.parent}.keras")
    return spec, model, prepare_fine_tuning(model, spec)


def run_fine_tune_full(row, cfg, ctx):
    """Phase 2 with fit over the full model: the frozen lower part recomputed every epoch."""
    spec, model, unfrozen = _phase_one_model(row, ctx)
    plan = schedule(cfg, "fine_tuned")
    compile_model(model, plan.learning_rates[0])
    splits = ctx.splits
    updates = {"unfrozen_layers": unfrozen, **count_params(model)}
    updates.update(_fit(model, ctx, cfg, splits.x_train, splits.x_val, plan.epochs, plan.patience, row))
    return model, updates, _evaluate(model, splits.x_test, updates)


def run_fine_tune_cached(row, cfg, ctx):
    """Phase 2 on cached cut-point activations: only the layers after the cut and the head run."""
    spec, model, unfrozen = _phase_one_model(row, ctx)
    key = ctx.parent.feature_key or feature_key(phase_one=row.parent, run=str(ctx.run_dir))
    entry, feature_seconds, hit, used = cached_features(model, cfg, ctx, key, spec.cut_after, f"{spec.name} cut", spec)
    top = top_model(model, spec.cut_after)
    plan = schedule(cfg, "fine_tuned")
    compile_model(top, plan.learning_rates[0], steps_per_execution=16)
    updates = {
        "unfrozen_layers": unfrozen,
        **count_params(model),
        "feature_key": key,
        "feature_seconds": feature_seconds,
        "features_from_cache": hit,
        **used,
    }
    record = _fit(top, ctx, cfg, entry["cut_train"], entry["cut_val"], plan.epochs, plan.patience, row)
    record["train_seconds"] += feature_seconds
    updates.update(record)
    return model, updates, _evaluate(top, entry["cut_test"], updates, batch_size=1024)


RUNNERS = {
    ("scratch", False): run_scratch,
    ("scratch", True): run_scratch,
    ("frozen", False): run_frozen_full,
    ("frozen", True): run_frozen_cached,
    ("fine_tuned", False): run_fine_tune_full,
    ("fine_tuned", True): run_fine_tune_cached,
    ("probe", False): run_probe,
    ("probe", True): run_probe,
}
