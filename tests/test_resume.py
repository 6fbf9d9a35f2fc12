"""Nothing lost: kill and resume, Ctrl-C, failed rows, disk full, determinism."""

import errno
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from transferbench import results
from transferbench.cli import main
from transferbench.config import RunConfig
from transferbench.experiment import run_experiment

pytestmark = pytest.mark.slow  # trains real rows or runs the CLI end to end

TINY = ["--weights", "random", "--train-limit", "300", "--test-limit", "100", "--epochs", "3", "--no-report"]
TINY += ["--recipe", "course"]
# wall clock, and what depends on whether this run's features were computed or read from the cache (the fixture's
# run computes them, the resumed one reads them back unless an earlier test already filled the cache)
TIMES = {"train_seconds", "evaluate_seconds", "feature_seconds", "features_from_cache", "engine_check", "engine_speeds"}


def _start(out, *extra):
    """Start `transferbench run` on tiny data in a child process, stdout piped line by line."""
    argv = [sys.executable, "-m", "transferbench.cli", "run", *TINY, "--models", "mobilenetv2,cnn", *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [*argv, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _wait_for(proc, *markers):
    """Read the child's stdout until each marker has been seen in order; return what was read."""
    seen = []
    for marker in markers:
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                break
        else:
            raise AssertionError(f"child ended before printing {marker!r}: {''.join(seen)[-2000:]}")
    return "".join(seen)


def _rows_without_times(run_dir):
    """The rows of a run, minus wall-clock fields."""
    rows = results.load_results(run_dir).rows
    return [{k: v for k, v in row.to_dict().items() if k not in TIMES} for row in rows]


def _predictions(run_dir, name):
    with np.load(run_dir / "predictions" / f"{name}.npz") as data:
        return data["probabilities"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    proc = _start(out)
    proc.communicate(timeout=600)
    assert proc.returncode == 0
    return out


def test_sigkill_mid_row_then_resume_gives_the_uninterrupted_rows(uninterrupted, tmp_path):
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for(proc, "[2/2] cnn", "Epoch 2/3")  # row 1 committed, row 2 half trained
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    record = results.load_results(out)
    assert [row.name for row in record.rows] == ["mobilenetv2"] and not record.finished
    assert not list(out.rglob(".*.tmp")) and not (out / "models" / "cnn.keras").exists()

    assert main(["run", "--resume", str(out), "--no-report"]) == 0
    resumed = results.load_results(out)
    assert resumed.finished
    assert _rows_without_times(out) == _rows_without_times(uninterrupted)
    for name in ("mobilenetv2", "cnn"):
        np.testing.assert_array_equal(_predictions(out, name), _predictions(uninterrupted, name))


def test_sigint_saves_finished_rows_and_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for(proc, "[2/2] cnn", "Epoch 2/3")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert f"transferbench run --resume {out}" in err and "Traceback" not in err
    record = results.load_results(out)
    assert [row.status for row in record.rows] == ["ok"] and not record.finished


def test_resume_refuses_other_settings_and_non_runs(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert "not a transferbench run folder" in capsys.readouterr().err
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 1, "rows": [], "config": {}}))
    assert main(["run", "--resume", str(tmp_path), "--epochs", "3"]) == 2
    assert "drop --epochs" in capsys.readouterr().err


def test_a_row_that_raises_is_failed_and_the_others_go_on(tmp_path, capsys, monkeypatch):
    from transferbench import rows

    def out_of_memory(row, cfg, ctx):
        raise MemoryError("could not allocate 4.0 GiB")

    monkeypatch.setitem(rows.RUNNERS, ("frozen", True), out_of_memory)
    out = tmp_path / "run"
    code = main(["run", *TINY, "--epochs", "1", "--models", "mobilenetv2,cnn", "--out", str(out)])
    assert code == 4
    err = capsys.readouterr().err
    assert "row mobilenetv2 failed: MemoryError: could not allocate 4.0 GiB" in err and "Traceback" not in err
    failed, ok = results.load_results(out).rows
    assert failed.status == "failed" and "MemoryError" in failed.reason and failed.test_accuracy is None
    assert "MemoryError" in (out / "logs" / "mobilenetv2.traceback.txt").read_text()
    assert ok.status == "ok" and (out / "models" / "cnn.keras").is_file()


def test_disk_full_while_writing_a_row_keeps_the_finished_rows(tmp_path, capsys, monkeypatch):
    calls = []
    real_save = np.savez_compressed

    def fills_the_disk(handle, **arrays):
        calls.append(1)
        if (
            len(calls) == 3
        ):  # test images, the first row, then the second row's predictions: write a little, then the disk is full
            handle.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(handle, **arrays)

    monkeypatch.setattr(results.np, "savez_compressed", fills_the_disk)
    out = tmp_path / "run"
    code = main(["run", *TINY, "--epochs", "1", "--models", "cnn,mobilenetv2", "--out", str(out)])
    assert code == 5
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("transferbench: error:")]  # not row notices
    assert len(errors) == 1 and "No space left on device" in errors[0] and "--resume" in errors[0]
    assert "Traceback" not in err
    record = results.load_results(out)
    assert [row.name for row in record.rows] == ["cnn"] and record.rows[0].status == "ok"
    assert (
        not (out / "models" / "mobilenetv2.keras").exists() and not (out / "predictions" / "mobilenetv2.npz").exists()
    )
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]


def test_atomic_group_write_touches_nothing_on_failure(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")

    def boom(temp):
        raise OSError(errno.EACCES, "Permission denied")

    with pytest.raises(results.OutputError, match="Permission denied"):
        results.atomic_write_many([(first, lambda temp: open(temp, "w").write("new a")), (second, boom)])
    assert first.read_text() == "old a" and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_files_written_atomically_get_the_umask_mode_not_a_private_one(tmp_path):
    """mkstemp makes its files 0600: a run folder or feature cache shared with a group would be locked."""
    old = os.umask(0o027)
    results._file_mode.cache_clear()
    try:
        results.write_text(tmp_path / "shared.txt", "for the group")
    finally:
        os.umask(old)
        results._file_mode.cache_clear()
    assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o640


def test_two_runs_with_the_same_seed_are_identical(tmp_path, monkeypatch):
    monkeypatch.setattr("transferbench.recipes.HEAD_EPOCHS", 4)  # the lr grid stays; fewer epochs per lr
    cfg = RunConfig(
        recipe="fair",
        models=["mobilenetv2", "cnn"],
        fine_tune=["mobilenetv2"],
        weights="random",
        train_limit=200,
        test_limit=100,
        epochs=2,
        fine_tune_epochs=1,
        disk_cache=False,
        report=False,
    )
    first = run_experiment(cfg, tmp_path / "a")
    second = run_experiment(cfg, tmp_path / "b")
    assert [row.status for row in first.rows] == ["ok"] * 3
    for a, b in zip(first.rows, second.rows, strict=True):
        a, b = a.to_dict(), b.to_dict()
        assert {k: v for k, v in a.items() if k not in TIMES} == {k: v for k, v in b.items() if k not in TIMES}
        np.testing.assert_array_equal(_predictions(tmp_path / "a", a["name"]), _predictions(tmp_path / "b", b["name"]))


def test_nan_loss_is_a_clear_failure():
    import keras

    from transferbench.training import compile_model, fit

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    compile_model(model, 1e-3)
    x = np.full((32, 4), np.nan, np.float32)
    y = np.zeros(32, np.int64)
    with pytest.raises(FloatingPointError, match="NaN or infinite; try a lower learning rate"):
        fit(model, (x, y), (x, y), epochs=3, batch_size=8, patience=0)


def test_a_signal_during_training_ends_the_batch_then_raises(tmp_path):
    import keras

    from transferbench import interrupts, training

    sent = []

    class SignalAtBatchOne(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            sent.append(batch)
            if batch == 1:
                os.kill(os.getpid(), signal.SIGINT)  # recorded, not raised, while Keras is inside a step

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.zeros((64, 4), np.float32), np.zeros(64, np.int64)
    before = signal.getsignal(signal.SIGINT)
    with interrupts.handling(), pytest.raises(KeyboardInterrupt):
        training.fit(model, (x, y), (x, y), epochs=5, batch_size=8, patience=0, callbacks=[SignalAtBatchOne()])
    assert sent == [0, 1]  # batch 1 finished, no batch 2, no epoch 2
    assert signal.getsignal(signal.SIGINT) is before and not interrupts.requested()
    with interrupts.handling(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)  # outside TensorFlow work: raised at once
