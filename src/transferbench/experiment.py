"""Run the grid of rows: plan them from the config, run each as an independent unit, keep the run folder."""

import dataclasses
import traceback
from pathlib import Path

import keras

from . import results
from .backbones import BACKBONES, SCRATCH_MODELS, get_backbone
from .data import get_spec, load_dataset
from .errors import UsageError, WeightsUnavailable, unknown_name
from .evaluate import predict_probabilities, test_metrics
from .modeling import build_base, build_transfer_model, choose_weights, count_params
from .scratch import build_cnn
from .splits import make_splits
from .training import compile_model, fit, prepare_fine_tuning

ROW_FIELDS = ("test_accuracy", "test_loss", "total_params", "trainable_params", "non_trainable_params",
              "train_seconds", "epochs_run", "best_epoch", "history")


def fine_tune_targets(cfg):
    """Backbones that get a phase-2 row: 'none', 'all' (every backbone row), or the names given."""
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
    rows = []
    for name in cfg.models:
        if name not in valid:
            raise unknown_name("model", name, valid)
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


def _build_row_model(row, cfg, splits, run_dir):
    """Build and compile the model of one row; return (model, weights label, learning rate, epochs, patience)."""
    raw_shape = splits.x_train.shape[1:]
    num_classes = int(max(splits.y_train.max(), splits.y_test.max())) + 1
    if row["phase"] == "scratch":
        model = build_cnn(raw_shape=raw_shape, num_classes=num_classes, input_size=cfg.input_size)
        compile_model(model, cfg.cnn_lr)
        return model, "scratch", cfg.epochs, cfg.patience
    spec = get_backbone(row["backbone"])
    if row["phase"] == "fine_tuned":
        source = Path(run_dir) / "models" / f"{row['from']}.keras"
        model = keras.models.load_model(source)
        unfrozen = prepare_fine_tuning(model, spec, cfg.fine_tune_lr)
        row["unfrozen_layers"] = unfrozen
        return model, None, cfg.fine_tune_epochs, 0
    choice = choose_weights(spec, cfg.weights, cfg.weights_files)
    base = build_base(spec, cfg.input_size, choice)
    model, _ = build_transfer_model(spec, base, raw_shape=raw_shape, num_classes=num_classes,
                                    preprocess=cfg.preprocess)
    compile_model(model, cfg.lr)
    return model, choice.label, cfg.epochs, cfg.patience


def run_row(row, cfg, splits, run_dir, done):
    """Run one row and write its prediction and model files; return its result record (never raises
    for a row-level problem: a missing weight file gives status 'skipped', any other error 'failed')."""
    result = {**row, "status": "ok", "reason": None, "input_size": cfg.input_size, "preprocess": cfg.preprocess}
    source = done.get(row.get("from"))
    if row["phase"] == "fine_tuned":
        result["weights"] = source["weights"] if source else None
        if not source or source["status"] != "ok":
            status = source["status"] if source else "missing"
            return {**result, "status": "skipped", "reason": f"its phase-1 row {row['from']} is {status}"}
    keras.utils.set_random_seed(cfg.seed)
    try:
        model, label, epochs, patience = _build_row_model(result, cfg, splits, run_dir)
        result["weights"] = label or result.get("weights")
        result.update(count_params(model))
        result.update(fit(model, splits, epochs=epochs, batch_size=cfg.batch_size, patience=patience))
        probabilities = predict_probabilities(model, splits.x_test)
        result.update(test_metrics(splits.y_test, probabilities))
        results.write_predictions(run_dir, row["name"], splits.y_test, probabilities)
        results.write_model(run_dir, row["name"], model)
    except WeightsUnavailable as exc:
        result.update(status="skipped", reason=str(exc), weights="imagenet (unavailable)")
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # a row's failure is recorded and the other rows go on
        traceback.print_exc()
        result.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
    for key in ("weights", *ROW_FIELDS):
        result.setdefault(key, None)
    return result


def best_row(rows):
    """Name of the ok row with the highest test accuracy, or None."""
    ok = [row for row in rows if row["status"] == "ok"]
    return max(ok, key=lambda row: row["test_accuracy"])["name"] if ok else None


def run_experiment(cfg, run_dir, *, on_row=None):
    """Run every row of cfg into run_dir, rewriting results.json after each row; return the record."""
    rows = plan_rows(cfg)
    dataset = load_dataset(cfg.dataset, data_file=cfg.data_file, cache_dir=cfg.cache_dir)
    splits = make_splits(dataset, val_fraction=cfg.val_fraction, train_limit=cfg.train_limit,
                         test_limit=cfg.test_limit, seed=cfg.seed)
    record = {
        "schema_version": results.SCHEMA_VERSION,
        "config": dataclasses.asdict(cfg),
        "dataset": {**dataset.source, "class_names": list(dataset.class_names), "sizes": splits.sizes()},
        "environment": results.environment(),
        "rows": [],
        "best": None,
        "finished": False,
    }
    results.write_results(run_dir, record)
    done = {}
    for row in rows:
        if on_row:
            on_row(row, len(done) + 1, len(rows))
        result = run_row(row, cfg, splits, run_dir, done)
        done[row["name"]] = result
        record["rows"].append(result)
        record["best"] = best_row(record["rows"])
        results.write_results(run_dir, record)
    record["finished"] = True
    results.write_results(run_dir, record)
    return record
