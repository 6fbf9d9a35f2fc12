"""Run-folder files: atomic writes of results.json, results.csv, predictions and models."""

import csv
import io
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np

CSV_COLUMNS = (
    "name",
    "backbone",
    "phase",
    "weights",
    "status",
    "test_accuracy",
    "test_loss",
    "total_params",
    "trainable_params",
    "non_trainable_params",
    "train_seconds",
    "epochs_run",
    "best_epoch",
    "reason",
)
SCHEMA_VERSION = 1


def atomic_write(path, write):
    """Call write(temp_path) on a temp file beside path, then rename it over path (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix="".join(path.suffixes) or ".tmp")
    os.close(fd)
    try:
        write(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_text(path, text):
    """Write a text file atomically."""

    def write(temp):
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write(path, write)


def write_results(run_dir, record):
    """Write results.json and results.csv of a run record atomically."""
    write_text(Path(run_dir) / "results.json", json.dumps(record, indent=2, sort_keys=False) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in record["rows"]:
        writer.writerow({key: row.get(key) for key in CSV_COLUMNS})
    write_text(Path(run_dir) / "results.csv", buffer.getvalue())


def write_predictions(run_dir, name, labels, probabilities):
    """Save test labels and predicted probabilities as predictions/<name>.npz."""

    def write(temp):
        with open(temp, "wb") as handle:
            np.savez_compressed(handle, labels=labels, probabilities=probabilities)

    atomic_write(Path(run_dir) / "predictions" / f"{name}.npz", write)


def write_test_images(run_dir, images, labels, class_names):
    """Save the run's test images (uint8) so reports and examples need nothing outside the run folder."""

    def write(temp):
        with open(temp, "wb") as handle:
            np.savez_compressed(handle, images=images, labels=labels, class_names=np.array(class_names))

    atomic_write(Path(run_dir) / "data" / "test_images.npz", write)


def write_model(run_dir, name, model):
    """Save the full model as models/<name>.keras; return its path."""
    path = Path(run_dir) / "models" / f"{name}.keras"
    atomic_write(path, lambda temp: model.save(temp))
    return path


def load_results(run_dir):
    """Read results.json of a run folder."""
    return json.loads((Path(run_dir) / "results.json").read_text(encoding="utf-8"))


def environment():
    """Versions and hardware that a result depends on."""
    import keras
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "gpus": [gpu.name for gpu in tf.config.list_physical_devices("GPU")],
    }
