"""Run the grid of rows: plan RowSpecs from the config, run each as a pure unit (`run_row`), keep the run folder."""

import dataclasses
import os
import sys
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np

from . import results
from .backbones import BACKBONES
from .data import default_cache_dir
from .errors import OutputError, UsageError, WeightsUnavailable, first_line, unknown_name
from .evaluate import test_metrics
from .feature_cache import FeatureCache, digest_arrays
from .recipes import describe as describe_recipe
from .records import RowResult, RowSpec, RunRecord
from .scratch import SCRATCH_MODELS
from .splits import Splits, budget_indices, stratified_subset


def fine_tune_targets(cfg):
    """Backbones that get a phase-2 row: 'none', 'all' (every backbone row), or the names given.

    The default (None) fine-tunes vgg16 when it runs, as the course does.
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
    """The model rows of a run as RowSpecs (one grid cell, ids = names): phase-1 and scratch rows as listed,
    then fine-tuning rows. Checks every name and weights file, so bad input fails before anything runs."""
    from .data import get_spec

    get_spec(cfg.dataset)
    valid = [*BACKBONES, *SCRATCH_MODELS, *(f"{name}_probe" for name in BACKBONES)]
    if len(set(cfg.models)) != len(cfg.models):
        raise UsageError(f"models lists a name twice: {', '.join(cfg.models)}")
    specs = []
    for name in cfg.models:
        if name not in valid:
            raise unknown_name("model", name, valid)
        if name.endswith("_probe"):
            specs.append(RowSpec(name, name, "probe", backbone=name.removesuffix("_probe")))
        elif name in SCRATCH_MODELS:
            specs.append(RowSpec(name, name, "scratch"))
        else:
            specs.append(RowSpec(name, name, "frozen", backbone=name))
    for name in fine_tune_targets(cfg):
        specs.append(RowSpec(f"{name}_finetuned", f"{name}_finetuned", "fine_tuned", backbone=name, parent=name))
    for name, path in cfg.weights_files.items():
        if name not in BACKBONES:
            raise unknown_name("backbone in --weights-file", name, BACKBONES)
        if not Path(path).is_file():
            raise UsageError(f"weights file for {name} not found: {path}")
    return specs


def cell_rows(specs, cell, grid_shape):
    """The RowSpecs of one (input size, budget, seed) cell, with ids unique in the run.

    grid_shape: (number of input sizes, number of cells); one-cell runs keep plain row names as ids."""
    size, budget, seed = cell
    sizes, cells = grid_shape
    suffix = "" if cells == 1 else f"@{budget}-s{seed}"
    if sizes > 1:
        suffix = f"@{size}px-{budget}-s{seed}"
    return [
        dataclasses.replace(
            spec,
            id=spec.name + suffix,
            parent=spec.parent + suffix if spec.parent else None,
            seed=seed,
            budget=budget,
            input_size=size,
        )
        for spec in specs
    ]


@dataclass(frozen=True)
class RowData:
    """The images a row sees: the run's training pool and test set, and this cell's indices into the pool.

    digest identifies pool + test exactly (it keys cached features, which are computed once on the pool)."""

    pool_x: np.ndarray
    pool_y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train: object  # indices (or a slice) of the cell's training images in the pool
    val: object
    digest: str

    @property
    def splits(self):
        """The cell's train / validation / test arrays."""
        return Splits(
            self.pool_x[self.train],
            self.pool_y[self.train],
            self.pool_x[self.val],
            self.pool_y[self.val],
            self.x_test,
            self.y_test,
        )

    @classmethod
    def of(cls, pool_x, pool_y, x_test, y_test, train, val):
        """RowData with its digest computed."""
        return cls(pool_x, pool_y, x_test, y_test, train, val, digest_arrays(pool_x, x_test, y_test))

    @classmethod
    def from_splits(cls, splits):
        """RowData whose pool is a Splits' train then validation images."""
        n = len(splits.y_train)
        pool_x = np.concatenate([splits.x_train, splits.x_val])
        pool_y = np.concatenate([splits.y_train, splits.y_val])
        return cls.of(pool_x, pool_y, splits.x_test, splits.y_test, slice(0, n), slice(n, len(pool_y)))


@dataclass
class RowInputs:
    """Everything a row needs besides its spec, named explicitly (no hidden state): the run's config, the
    data, the feature cache, the folder the row's files go to, and the finished parent row of a fine-tuned row
    (its model file is run_dir/models/<parent id>.keras)."""

    config: object  # RunConfig; the spec's seed and input size override its seed and input_size
    data: RowData
    cache: FeatureCache
    run_dir: Path
    parent: RowResult | None = None


def run_row(spec, inputs):
    """Run one row, write its predictions and model into inputs.run_dir, and return its RowResult. Never raises
    for a row-level problem: missing weights give status 'skipped', any other error 'failed' with the reason."""
    from .rows import RUNNERS, RowContext

    cfg = dataclasses.replace(inputs.config, seed=spec.seed, input_size=spec.input_size)
    cached = cfg.cache and spec.phase != "scratch" or spec.phase == "probe"
    result = RowResult.of(
        spec, preprocess=cfg.preprocess, path="cached" if cached else "full-model", training_loop=cfg.training_loop
    )
    if spec.phase == "fine_tuned":
        parent = inputs.parent
        result.weights = parent.weights if parent else None
        if parent is None or not parent.ok:
            status = parent.status if parent else "missing"
            return result.update({"status": "skipped", "reason": f"its phase-1 row {spec.parent} is {status}"})
    keras.utils.set_random_seed(cfg.seed)
    ctx = RowContext.of(spec, cfg, inputs, fine_tune_targets(cfg))
    try:
        model, updates, probabilities = RUNNERS[spec.phase, bool(cfg.cache)](spec, cfg, ctx)
        result.update(updates)
        result.update(test_metrics(inputs.data.y_test, probabilities))
        result.train_size = len(ctx.splits.y_train)
        results.write_row_files(inputs.run_dir, spec.id, inputs.data.y_test, probabilities, model)
    except WeightsUnavailable as exc:
        result.update({"status": "skipped", "reason": str(exc), "weights": "imagenet (unavailable)"})
    except (KeyboardInterrupt, SystemExit, OutputError):
        raise
    except Exception as exc:  # a row's failure is recorded and the other rows go on
        result.update({"status": "failed", "reason": _failure_reason(exc, spec.id, inputs.run_dir)})
    return result


def _failure_reason(exc, name, run_dir):
    """One line for a failed row; its traceback goes to logs/<name>.traceback.txt (and stderr with --debug)."""
    text = "".join(traceback.format_exception(exc))
    if os.environ.get("TRANSFERBENCH_DEBUG"):
        print(text, file=sys.stderr)
    reason = f"{type(exc).__name__}: {first_line(exc, 300)}"
    try:
        results.write_text(Path(run_dir) / "logs" / f"{name}.traceback.txt", text)
        reason += f" (traceback in logs/{name}.traceback.txt)"
    except OutputError:
        pass
    print(f"row {name} failed: {reason}", file=sys.stderr)
    return reason


def kept_rows(previous, run_dir):
    """Rows of an earlier attempt that a resume keeps: status ok and their files present."""
    if not previous:
        return {}
    return {
        row.id: row
        for row in previous.rows
        if row.ok and all(path.is_file() for path in results.row_files(run_dir, row.id))
    }


def _pool_and_test(cfg, dataset):
    """The run's training pool (after --train-limit) and test set (after --test-limit), both stratified."""
    keep = stratified_subset(dataset.y_train, cfg.train_limit, cfg.seed, "--train-limit")
    test = stratified_subset(dataset.y_test, cfg.test_limit, cfg.seed, "--test-limit")
    return dataset.x_train[keep], dataset.y_train[keep], dataset.x_test[test], dataset.y_test[test]


@dataclass
class Plan:
    """A run's grid: its row specs in order and the data each cell sees."""

    specs: list  # RowSpec, in run order
    cell_data: dict  # (budget, seed) -> RowData
    dataset: object
    grid: dict


def make_plan(cfg):
    """Load the data and lay out every cell (input size x label budget x seed) of the grid."""
    from .data import load_dataset

    models = plan_rows(cfg)
    dataset = load_dataset(cfg.dataset, data_file=cfg.data_file, cache_dir=cfg.cache_dir)
    pool_x, pool_y, x_test, y_test = _pool_and_test(cfg, dataset)
    sizes, budgets, seeds = cfg.size_list(), cfg.budget_list(), cfg.seed_list()
    cells = [(size, budget, seed) for size in sizes for budget in budgets for seed in seeds]
    indices = {(b, s): budget_indices(pool_y, b, s, cfg.val_fraction) for b in budgets for s in seeds}
    if len(indices) == 1:  # one split: order the pool train-then-validation so each is a view, not a copy
        ((key, (train, val)),) = indices.items()
        order = np.concatenate([train, val])
        pool_x, pool_y = pool_x[order], pool_y[order]
        indices[key] = (slice(0, len(train)), slice(len(train), len(order)))
    digest = digest_arrays(pool_x, x_test, y_test)
    cell_data = {key: RowData(pool_x, pool_y, x_test, y_test, *split, digest) for key, split in indices.items()}
    specs = [spec for cell in cells for spec in cell_rows(models, cell, (len(sizes), len(cells)))]
    return Plan(specs, cell_data, dataset, {"seeds": seeds, "budgets": budgets, "input_sizes": sizes})


def new_record(cfg, plan):
    """The RunRecord of a run before any row ran."""
    data = next(iter(plan.cell_data.values()))
    return RunRecord(
        config=dataclasses.asdict(cfg),
        dataset={
            **plan.dataset.source,
            "class_names": list(plan.dataset.class_names),
            "sizes": {"pool": len(data.pool_y), "test": len(data.y_test)},
            "digest": data.digest,
        },
        grid=plan.grid,
        recipe=describe_recipe(cfg),
        environment=results.environment(),
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def run_experiment(cfg, run_dir, *, progress=None, previous=None):
    """Run every row of the plan into run_dir, rewriting results.json after each row; return the RunRecord.

    previous: the RunRecord of an interrupted attempt (resume); its ok rows are kept, the others rerun.
    results.json is the commit point of a row: a row counts as done only once it is listed there.
    """
    from . import stats

    plan = make_plan(cfg)
    record = new_record(cfg, plan)
    if previous and previous.dataset.get("digest") != record.dataset["digest"]:
        raise UsageError(
            f"cannot resume {run_dir}: its data differ from what the recorded config loads now "
            "(the dataset file changed); start a new run"
        )
    kept = kept_rows(previous, run_dir)
    if previous:
        record.environment["resumed_from"] = previous.environment
        record.started = previous.started or record.started
    finished = dict(kept)

    def commit():
        record.rows = [finished[spec.id] for spec in plan.specs if spec.id in finished]
        record.statistics = stats.grid_statistics(record) if record.is_grid else None
        results.write_results(run_dir, record)

    commit()
    data = next(iter(plan.cell_data.values()))
    results.write_test_images(run_dir, data.x_test, data.y_test, plan.dataset.class_names)
    if progress:
        progress.begin(len(plan.specs))
    if cfg.executor == "ray":
        from .distributed import RayGrid

        for spec in plan.specs:
            if spec.id in kept and progress:
                progress.start(spec, kept=True)
        RayGrid(cfg, plan, run_dir, finished, commit).run([s for s in plan.specs if s.id not in kept], progress)
    else:
        _run_here(cfg, plan, run_dir, kept, finished, commit, progress)
    record.finished = True
    results.write_results(run_dir, record)
    return record


def _run_here(cfg, plan, run_dir, kept, finished, commit, progress):
    """The local executor: every row in plan order in this process, sharing one feature cache."""
    root = Path(cfg.cache_dir) if cfg.cache_dir else default_cache_dir()
    cache = FeatureCache(root if cfg.disk_cache else None)
    for spec in plan.specs:
        if progress:
            progress.start(spec, kept=spec.id in kept)
        if spec.id not in kept:
            data = plan.cell_data[spec.budget, spec.seed]
            inputs = RowInputs(cfg, data, cache, Path(run_dir), parent=finished.get(spec.parent))
            finished[spec.id] = run_row(spec, inputs)
        commit()
        if progress:
            progress.finish(finished[spec.id])
