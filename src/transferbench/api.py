"""The public API: run a comparison, write its report, predict with a saved model, list the registries.

The CLI and the notebook call these; every user-facing failure is a TransferbenchError with its exit code.
"""

import dataclasses
import functools
import importlib.util
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from .config import RunConfig, from_record, resolve
from .errors import Interrupted, OutputError, TransferbenchError, UsageError, first_line
from .image_input import CONVENTIONS, Prediction  # noqa: F401  (Prediction: what predict returns)


def run(config=None, out=None, resume=None, *, progress=None):
    """Run the comparison into a run folder and return its RunRecord.

    Parameters
    ----------
    config : RunConfig, dict of settings, or None for the defaults (ignored with resume, except report / lang).
    out : run folder (default: config.out, else runs/<UTC timestamp>).
    resume : a run folder to continue with its recorded settings; its ok rows are kept.
    progress : a progress.GridProgress (default: bars on a terminal, plain lines otherwise).
    """
    from .experiment import plan_rows
    from .results import load_results

    previous = None
    if resume is not None:
        previous = load_results(resume)
        cfg = from_record(previous.config, resume)
        if isinstance(config, RunConfig):
            cfg.report, cfg.lang = config.report, config.lang
        cfg.out = str(resume)
    else:
        cfg = dataclasses.replace(config) if isinstance(config, RunConfig) else resolve({}, config or {})
        cfg.validate()
        if out is not None:
            cfg.out = str(out)
    plan_rows(cfg)  # bad names fail before anything is created
    if cfg.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise UsageError("--tensorboard needs the tensorboard package: pip install tensorboard")
    if cfg.cpus_per_row and cfg.executor == "local":
        from .training import limit_threads

        if not limit_threads(cfg.cpus_per_row):
            print(
                f"note: TensorFlow already started in this process; --cpus-per-row {cfg.cpus_per_row} cannot "
                "change its thread pools here",
                file=sys.stderr,
            )
    _verify_weights_files(cfg)
    connected = False
    if cfg.executor == "ray":
        from .distributed import connect

        connected, dashboard = connect(cfg)  # before the run folder: an unreachable cluster writes nothing
        if dashboard:
            print(f"Ray dashboard: {dashboard}", flush=True)
    try:
        return _run_in_folder(cfg, resume, previous, progress)
    finally:
        if connected:
            from .distributed import disconnect

            disconnect()


def _run_in_folder(cfg, resume, previous, progress):
    """Create (or reuse) the run folder, run the grid into it, write the report."""
    from . import interrupts
    from .experiment import run_experiment
    from .progress import GridProgress

    created = resume is None and not Path(cfg.out or "runs/-").exists()
    run_dir = Path(cfg.out) if resume is not None else _prepare_out(cfg)
    try:
        with interrupts.handling():  # SIGTERM like Ctrl-C: save what is finished, say how to resume
            record = run_experiment(cfg, run_dir, progress=progress or GridProgress(), previous=previous)
    except OutputError as exc:
        raise OutputError(f"{exc}; free space (or fix permissions), then `transferbench run --resume {run_dir}`")
    except TransferbenchError:
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # bad data or limits found before anything was written: leave no empty folder
        raise
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: finished rows are saved in {run_dir}/results.json; "
            f"continue with `transferbench run --resume {run_dir}`"
        ) from None
    if cfg.report:
        try:
            report(run_dir, lang=cfg.lang)
        except Exception as exc:  # the results are saved; a report problem must not hide them
            print(
                f"warning: the report could not be written ({type(exc).__name__}: {exc}); "
                f"retry with `transferbench report {run_dir}`",
                file=sys.stderr,
            )
    return record


def report(run_dir, lang="en", *, feature_model="vgg16", seed=0):
    """Write figures/, report.md and report.html for a run folder; return the report.html path."""
    from .reporting import build_report

    return build_report(run_dir, lang=lang, feature_model=feature_model, seed=seed)


def predict(model_path, images, *, top=3, normalize=True, convention=None, show=None, engine="tf"):
    """Classify image files with a saved model; return one Prediction per file (unreadable files do not stop
    the others).

    normalize: apply the model's input convention (for digit datasets, MNIST's: ink cropped, scaled into 20x20,
    centred by mass); False resizes the whole picture. convention: one of CONVENTIONS, for a model outside its
    run folder (default: what the run recorded). show: a folder to save the image each model saw. engine: 'tf' or
    'openvino' (checked against tf first; converting takes seconds, so it pays off on many images)."""
    from .engines import model_forward, resolve_engine
    from .image_input import predict_files

    if top < 1:
        raise UsageError(f"--top must be at least 1, got {top}")
    model = load_model(model_path)
    names, recorded = run_facts(model_path, model.output_shape[-1])
    convention = convention or recorded
    if convention not in CONVENTIONS:
        raise UsageError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    if engine not in ("tf", "openvino"):
        raise UsageError(f"engine must be 'tf' or 'openvino', got {engine!r}")
    forward = None
    if resolve_engine(engine, None, None) == "openvino":

        @functools.cache
        def compiled():  # converted on first use: a run whose files are all unreadable says so in a second
            converted, choice = model_forward(model, "openvino", label=Path(model_path).name)
            print(f"{Path(model_path).name}: {choice.engine} ({choice.record()['engine_check']})", file=sys.stderr)
            return converted

        forward = lambda images: compiled()(images)  # noqa: E731
    return predict_files(
        model, images, names, k=top, convention=convention, normalize=normalize, show=show, forward=forward
    )


MODEL_SUFFIXES = (".keras", ".h5")  # what keras.models.load_model reads


def load_model(model_path):
    """A saved transferbench model, or a UsageError saying why it cannot be loaded."""
    import keras

    from . import layers  # noqa: F401  (registers the custom layers)

    model_path = Path(model_path)
    if not model_path.is_file():
        raise UsageError(f"model file not found: {model_path}")
    if model_path.suffix not in MODEL_SUFFIXES:
        raise UsageError(f"{model_path} is not a saved model: pass a .keras file from a run folder's models/")
    try:
        return keras.models.load_model(model_path)
    except Exception as exc:
        raise UsageError(f"cannot load model {model_path}: {first_line(exc)}") from None


def run_facts(model_path, count):
    """(class names, input convention) recorded in the model's run folder; else 0..count-1 and 'resize'."""
    import json

    from .data import DATASETS

    results = Path(model_path).resolve().parent.parent / "results.json"
    try:
        dataset = json.loads(results.read_text())["dataset"]
        names = dataset["class_names"] if len(dataset["class_names"]) == count else [str(i) for i in range(count)]
        spec = DATASETS.get(dataset.get("name"))
        return names, dataset.get("input_convention") or (spec.input_convention if spec else "resize")
    except (OSError, ValueError, KeyError, TypeError):
        return [str(i) for i in range(count)], "resize"


def list_backbones():
    """The backbone registry entries (BackboneSpec), in registry order."""
    from .backbones import BACKBONES

    return list(BACKBONES.values())


def list_scratch_models():
    """The scratch model registry entries (ScratchSpec)."""
    from .scratch import SCRATCH_MODELS

    return list(SCRATCH_MODELS.values())


def list_datasets():
    """The dataset registry entries (DatasetSpec); folder:PATH reads your own images."""
    from .data import DATASETS

    return list(DATASETS.values())


def _prepare_out(cfg):
    """Resolve and create the run folder; refuse a non-empty one unless overwrite is set."""
    out = Path(cfg.out) if cfg.out else Path("runs") / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not cfg.overwrite:
        raise UsageError(f"run folder {out} is not empty; choose another --out or pass --overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create run folder {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"run folder {out} is not writable; choose another --out")
    cfg.out = str(out)
    return out


def _verify_weights_files(cfg):
    """Check every --weights-file loads into its backbone before any row runs (fail in seconds, not hours)."""
    if not cfg.weights_files:
        return
    from .backbones import BACKBONES
    from .modeling import verify_weights_file

    for name, path in cfg.weights_files.items():
        verify_weights_file(BACKBONES[name], path, cfg.input_size)
