"""Run the grid of rows: plan them from the config, run each as an independent unit, keep the run folder."""

import dataclasses
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from . import results
from .backbones import BACKBONES, SCRATCH_MODELS
from .data import default_cache_dir, get_spec, load_dataset
from .errors import OutputError, UsageError, WeightsUnavailable, unknown_name
from .evaluate import test_metrics
from .feature_cache import FeatureCache, digest_arrays
from .recipes import describe as describe_recipe
from .rows import RUNNERS
from .splits import Splits, budget_indices, stratified_subset

ROW_FIELDS = (
    "weights",
    "test_accuracy",
    "test_loss",
    "total_params",
    "trainable_params",
    "non_trainable_params",
    "train_seconds",
    "epochs_run",
    "best_epoch",
    "history",
)


def fine_tune_targets(cfg):
    """Backbones that get a phase-2 row: 'none', 'all' (every backbone row), or the names given.

    The default (None) fine-tunes vgg16 when it runs, as the seed does.
    """
    if cfg.fine_tune is None:
        return ["vgg16"] if "vgg16" in cfg.models else []
    wanted = [name.strip() for name in cfg.fine_tune if name.strip()]
    if wanted in ([], ["none"]):
        return []
    backbone_rows = [name for name in cfg.models if name in BACKBONES]
    if wanted == ["all"]:
        return backbone_rows
    for name in wanted:
        if name not in BACKBONES:
            raise unknown_name("backbone to fine-tune", name, BACKBONES)
        if name not in cfg.models:
            raise UsageError(f"--fine-tune {name} needs its phase-1 row: add {name} to --models")
    return wanted


def plan_rows(cfg):
    """The row specs of a run, in order: phase-1 and scratch rows as listed, then fine-tuning rows."""
    get_spec(cfg.dataset)
    valid = [*BACKBONES, *SCRATCH_MODELS]
    if len(set(cfg.models)) != len(cfg.models):
        raise UsageError(f"models lists a name twice: {', '.join(cfg.models)}")
    valid += [f"{name}_probe" for name in BACKBONES]
    rows = []
    for name in cfg.models:
        if name not in valid:
            raise unknown_name("model", name, valid)
        if name.endswith("_probe"):
            rows.append({"name": name, "backbone": name.removesuffix("_probe"), "phase": "probe"})
            continue
        phase = "scratch" if name in SCRATCH_MODELS else "frozen"
        rows.append({"name": name, "backbone": None if phase == "scratch" else name, "phase": phase})
    for name in fine_tune_targets(cfg):
        rows.append({"name": f"{name}_finetuned", "backbone": name, "phase": "fine_tuned", "from": name})
    for name, path in cfg.weights_files.items():
        if name not in BACKBONES:
            raise unknown_name("backbone in --weights-file", name, BACKBONES)
        if not Path(path).is_file():
            raise UsageError(f"weights file for {name} not found: {path}")
    return rows


@dataclass
class RunContext:
    """What the rows of one run share: the data, the feature cache, finished rows, the run folder."""

    splits: object
    run_dir: Path
    cache: FeatureCache
    fine_tune_targets: list
    tensorboard: bool = False
    data_digest: str = ""
    tf_version: str = ""
    done: dict = field(default_factory=dict)
    pool: object = None  # all training images of the run; cached features are computed on it once
    index: dict = None  # {"train": indices, "val": indices} of this cell's splits in the pool


def make_context(cfg, splits, run_dir, pool=None, index=None):
    """Build the shared context of a run (the data digest keys cached features to this exact data).

    With pool and index (the grid of budgets and seeds), features are computed once on the pool and
    test images and sliced per cell; without, on the cell's own splits."""
    import tensorflow as tf

    root = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    if pool is not None:
        digest = digest_arrays(pool, splits.x_test, splits.y_test)
    else:
        digest = digest_arrays(splits.x_train, splits.y_train, splits.x_val, splits.y_val, splits.x_test, splits.y_test)
    return RunContext(
        splits=splits,
        run_dir=Path(run_dir),
        cache=FeatureCache(root if cfg.disk_cache else None),
        fine_tune_targets=fine_tune_targets(cfg),
        tensorboard=cfg.tensorboard,
        data_digest=digest,
        tf_version=tf.__version__,
        pool=pool,
        index=index,
    )


def run_row(row, cfg, ctx):
    """Run one row and write its prediction and model files; return its result record (never raises
    for a row-level problem: a missing weight file gives status 'skipped', any other error 'failed')."""
    result = {
        **row,
        "status": "ok",
        "reason": None,
        "input_size": cfg.input_size,
        "preprocess": cfg.preprocess,
        "path": "cached" if (cfg.cache and row["phase"] != "scratch") or row["phase"] == "probe" else "seed-style",
    }
    source = ctx.done.get(row.get("from"))  # keyed by row id
    if row["phase"] == "fine_tuned":
        result["weights"] = source["weights"] if source else None
        if not source or source["status"] != "ok":
            status = source["status"] if source else "missing"
            return _complete({**result, "status": "skipped", "reason": f"its phase-1 row {row['from']} is {status}"})
    keras.utils.set_random_seed(cfg.seed)
    try:
        model, updates, probabilities = RUNNERS[row["phase"], bool(cfg.cache)](row, cfg, ctx)
        result.update(updates)
        result.update(test_metrics(ctx.splits.y_test, probabilities))
        results.write_row_files(ctx.run_dir, row.get("id", row["name"]), ctx.splits.y_test, probabilities, model)
    except WeightsUnavailable as exc:
        result.update(status="skipped", reason=str(exc), weights="imagenet (unavailable)")
    except (KeyboardInterrupt, SystemExit, OutputError):
        raise
    except Exception as exc:  # a row's failure is recorded and the other rows go on
        result.update(status="failed", reason=_failure_reason(exc, row.get("id", row["name"]), ctx.run_dir))
    return _complete(result)


def _failure_reason(exc, name, run_dir):
    """One line for a failed row; its traceback goes to logs/<name>.traceback.txt (and stderr with --debug)."""
    text = "".join(traceback.format_exception(exc))
    if os.environ.get("TRANSFERBENCH_DEBUG"):
        print(text, file=sys.stderr)
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    try:
        results.write_text(Path(run_dir) / "logs" / f"{name}.traceback.txt", text)
        reason += f" (traceback in logs/{name}.traceback.txt)"
    except OutputError:
        pass
    print(f"row {name} failed: {reason}", file=sys.stderr)
    return reason


def _complete(result):
    """Give a result every schema field (None where the row did not produce it)."""
    for key in ROW_FIELDS:
        result.setdefault(key, None)
    return result


def best_row(rows):
    """Name of the ok row with the highest test accuracy, or None."""
    ok = [row for row in rows if row["status"] == "ok"]
    if not ok:
        return None
    best = max(ok, key=lambda row: row["test_accuracy"])
    return best.get("id", best["name"])


def kept_rows(previous, run_dir):
    """Rows of an earlier attempt that a resume keeps: status ok and their files present."""
    if not previous:
        return {}
    return {
        row["id"]: row
        for row in previous["rows"]
        if row.get("status") == "ok" and all(path.is_file() for path in results.row_files(run_dir, row["id"]))
    }


def cell_rows(rows, cell, grid_shape):
    """The row specs of one (input size, budget, seed) cell of the grid, with ids unique in the run.

    grid_shape: (number of input sizes, number of cells); one-cell runs keep plain row names as ids."""
    size, budget, seed = cell
    sizes, cells = grid_shape
    suffix = "" if cells == 1 else f"@{budget}-s{seed}"
    if sizes > 1:
        suffix = f"@{size}px-{budget}-s{seed}"
    cell_specs = []
    for row in rows:
        spec = {**row, "id": row["name"] + suffix, "budget": budget, "seed": seed, "input_size": size}
        if "from" in row:
            spec["from"] = row["from"] + suffix
        cell_specs.append(spec)
    return cell_specs


def _pool_and_test(cfg, dataset):
    """The run's training pool (after --train-limit) and test set (after --test-limit), both stratified."""
    keep = stratified_subset(dataset.y_train, cfg.train_limit, cfg.seed, "--train-limit")
    test = stratified_subset(dataset.y_test, cfg.test_limit, cfg.seed, "--test-limit")
    return dataset.x_train[keep], dataset.y_train[keep], dataset.x_test[test], dataset.y_test[test]


def run_experiment(cfg, run_dir, *, on_row=None, previous=None):
    """Run every row of every grid cell (input size x label budget x seed) into run_dir, rewriting
    results.json after each row; return the record.

    previous: the record of an interrupted attempt (resume); its ok rows are kept, the others rerun.
    results.json is the commit point of a row: a row counts as done only once it is listed there.
    """
    rows = plan_rows(cfg)
    dataset = load_dataset(cfg.dataset, data_file=cfg.data_file, cache_dir=cfg.cache_dir)
    pool_x, pool_y, x_test, y_test = _pool_and_test(cfg, dataset)
    sizes, budgets, seeds = cfg.size_list(), cfg.budget_list(), cfg.seed_list()
    cells = [(size, budget, seed) for size in sizes for budget in budgets for seed in seeds]
    shape = (len(sizes), len(cells))
    indices = {(b, s): budget_indices(pool_y, b, s, cfg.val_fraction) for b in budgets for s in seeds}
    if len(indices) == 1:  # one split: order the pool train-then-validation so each is a view, not a copy
        ((key, (train, val)),) = indices.items()
        order = np.concatenate([train, val])
        pool_x, pool_y = pool_x[order], pool_y[order]
        indices[key] = (slice(0, len(train)), slice(len(train), len(order)))
    plan = [spec for cell in cells for spec in cell_rows(rows, cell, shape)]

    def splits_of(budget, seed):
        train, val = indices[budget, seed]
        return Splits(pool_x[train], pool_y[train], pool_x[val], pool_y[val], x_test, y_test)

    first = make_context(cfg, splits_of(budgets[0], seeds[0]), run_dir, pool=pool_x, index=None)
    if previous and previous["dataset"].get("digest") != first.data_digest:
        raise UsageError(
            f"cannot resume {run_dir}: its data differ from what the recorded config loads now "
            "(the dataset file changed); start a new run"
        )
    kept = kept_rows(previous, run_dir)
    record = {
        "schema_version": results.SCHEMA_VERSION,
        "config": dataclasses.asdict(cfg),
        "dataset": {
            **dataset.source,
            "class_names": list(dataset.class_names),
            "sizes": {"pool": len(pool_y), "test": len(y_test)},
            "digest": first.data_digest,
        },
        "grid": {"seeds": seeds, "budgets": budgets, "input_sizes": sizes},
        "recipe": describe_recipe(cfg),
        "environment": results.environment(),
        "rows": [kept[spec["id"]] for spec in plan if spec["id"] in kept],
        "best": None,
        "finished": False,
    }
    record["best"] = best_row(record["rows"])
    if previous:
        record["environment"]["resumed_from"] = previous.get("environment")
    results.write_results(run_dir, record)
    results.write_test_images(run_dir, x_test, y_test, dataset.class_names)
    finished = dict(kept)
    index = 0
    for size, budget, seed in cells:
        cell_cfg = dataclasses.replace(cfg, seed=seed, input_size=size)
        train, val = indices[budget, seed]
        index_of_cell = {"train": train, "val": val}
        ctx = make_context(cell_cfg, splits_of(budget, seed), run_dir, pool=pool_x, index=index_of_cell)
        ctx.cache = first.cache  # one feature cache for every cell: features are computed once per backbone
        ctx.done = finished
        for row in cell_rows(rows, (size, budget, seed), shape):
            index += 1
            if on_row:
                on_row(row, index, len(plan), row["id"] in kept)
            if row["id"] not in kept:
                finished[row["id"]] = {**run_row(row, cell_cfg, ctx), "train_size": len(pool_y[train])}
            record["rows"] = [finished[spec["id"]] for spec in plan if spec["id"] in finished]
            record["best"] = best_row(record["rows"])
            results.write_results(run_dir, record)
    record["finished"] = True
    results.write_results(run_dir, record)
    return record
