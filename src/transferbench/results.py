"""Run-folder files: atomic writes of results.json, results.csv, predictions and models."""

import csv
import functools
import io
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np

from .errors import OutputError, UsageError
from .records import CSV_COLUMNS, RunRecord


@functools.cache
def _file_mode():
    """The mode a plain new file gets under this process's umask (os.umask can only be read by setting it)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _temp_beside(path):
    """Create an empty temp file in path's folder (same file system, so a rename is atomic), with the mode a
    plain new file gets: mkstemp makes it private (0600), which would lock others out of a shared run folder
    or feature cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix="".join(path.suffixes) or ".tmp")
    os.fchmod(fd, _file_mode())
    os.close(fd)
    return Path(temp)


def _output_error(path, exc):
    """An OutputError naming the file and the OS reason (disk full, permission denied...)."""
    reason = exc.strerror or str(exc)
    return OutputError(f"cannot write {path}: {reason}; the files written before it are intact")


def atomic_write_many(writes):
    """Write several files as one unit: every write(temp) first, then the renames; on any error no
    target is touched and the temp files are removed. writes: list of (path, write)."""
    staged = []
    try:
        for path, write in writes:
            path = Path(path)
            staged.append((_temp_beside(path), path))
            write(str(staged[-1][0]))
        for temp, path in staged:
            os.replace(temp, path)
    except BaseException as exc:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _output_error(path, exc) from None
        raise


def atomic_write(path, write):
    """Call write(temp_path) on a temp file beside path, then rename it over path (never half-written)."""
    atomic_write_many([(path, write)])


def write_text(path, text):
    """Write a text file atomically."""

    def write(temp):
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write(path, write)


def csv_text(columns, rows):
    """CSV text of dicts with these columns (missing keys empty)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_results(run_dir, record):
    """Write results.json, results.csv (and grid.csv for a grid) of a RunRecord, each atomically."""
    run_dir = Path(run_dir)
    write_text(run_dir / "results.json", json.dumps(record.to_dict(), indent=2) + "\n")
    write_text(run_dir / "results.csv", csv_text(CSV_COLUMNS, [row.to_dict() for row in record.rows]))
    if record.statistics and record.statistics["cells"]:
        cells = record.statistics["cells"]
        write_text(run_dir / "grid.csv", csv_text(list(cells[0]), cells))


def write_row_files(run_dir, name, labels, probabilities, model):
    """Save a row's predictions/<name>.npz and models/<name>.keras as one unit (both or neither)."""

    def write_predictions(temp):
        with open(temp, "wb") as handle:
            np.savez_compressed(handle, labels=labels, probabilities=probabilities)

    run_dir = Path(run_dir)
    atomic_write_many(
        [
            (run_dir / "predictions" / f"{name}.npz", write_predictions),
            (run_dir / "models" / f"{name}.keras", lambda temp: model.save(temp)),
        ]
    )


def write_files(run_dir, files):
    """Write {path relative to run_dir: bytes} as one unit (all or none): a row's files made elsewhere."""

    def writer(data):
        def write(temp):
            with open(temp, "wb") as handle:
                handle.write(data)

        return write

    atomic_write_many([(Path(run_dir) / relative, writer(data)) for relative, data in files.items()])


def row_files(run_dir, name):
    """The files an ok row leaves in the run folder."""
    return [Path(run_dir) / "predictions" / f"{name}.npz", Path(run_dir) / "models" / f"{name}.keras"]


def write_test_images(run_dir, images, labels, class_names):
    """Save the run's test images (uint8) so reports and examples need nothing outside the run folder."""

    def write(temp):
        with open(temp, "wb") as handle:
            np.savez_compressed(handle, images=images, labels=labels, class_names=np.array(class_names))

    atomic_write(Path(run_dir) / "data" / "test_images.npz", write)


def load_results(run_dir):
    """The RunRecord of a run folder; UsageError if it is not a run of a schema this version reads."""
    path = Path(run_dir) / "results.json"
    if Path(run_dir).is_file() or not path.is_file():
        raise UsageError(f"{run_dir} is not a transferbench run folder (no results.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid JSON ({exc}); the run folder is damaged") from None
    return RunRecord.from_dict(data, where=str(path))


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
