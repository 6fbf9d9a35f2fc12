"""The command line end to end on tiny data, and its usage errors."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from transferbench.cli import main

ROW_KEYS = {
    "name",
    "backbone",
    "phase",
    "weights",
    "status",
    "reason",
    "test_accuracy",
    "test_loss",
    "total_params",
    "trainable_params",
    "non_trainable_params",
    "train_seconds",
    "epochs_run",
    "best_epoch",
    "history",
}
NAMES = ["vgg16", "resnet50", "mobilenetv2", "cnn", "vgg16_finetuned"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    with pytest.MonkeyPatch.context() as patch:  # the default (fair) recipe, its 100-epoch head cap made 3
        patch.setattr("transferbench.recipes.HEAD_EPOCHS", 3)
        code = _run_default_tiny(out)
    return code, out


def _run_default_tiny(out):
    """The default run (every model, fair recipe) on 512 training and 256 test images, one epoch per phase."""
    return main(
        [
            "run",
            "--weights",
            "random",
            "--train-limit",
            "512",
            "--test-limit",
            "256",
            "--epochs",
            "1",
            "--fine-tune-epochs",
            "1",
            "--out",
            str(out),
        ]
    )


@pytest.mark.slow
def test_end_to_end_writes_every_file_with_the_schema(tiny_run):
    code, out = tiny_run
    assert code == 0
    record = json.loads((out / "results.json").read_text())
    assert {"config", "environment", "rows", "best"} <= set(record)
    assert {"python", "tensorflow", "keras", "platform", "cpu_count", "gpus"} <= set(record["environment"])
    assert record["config"]["train_limit"] == 512 and record["config"]["weights"] == "random"
    assert [row["name"] for row in record["rows"]] == NAMES
    phases = {row["name"]: row["phase"] for row in record["rows"]}
    assert phases == {
        "vgg16": "frozen",
        "resnet50": "frozen",
        "mobilenetv2": "frozen",
        "cnn": "scratch",
        "vgg16_finetuned": "fine_tuned",
    }
    for row in record["rows"]:
        assert ROW_KEYS <= set(row) and row["status"] == "ok"
        assert set(row["history"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert len(row["history"]["val_loss"]) == row["epochs_run"]
        if row["phase"] == "frozen":  # the default fair recipe: three learning rates, up to 100 epochs each
            assert row["engine"] == "tf" and row["engine_check"].startswith("auto: a pass over 768 images at 32 px")
            assert set(row["lr_grid"]) == {"0.0001", "0.001", "0.01"} and 1 <= row["epochs_run"] <= 100
            assert row["lr_epochs"][f"{row['learning_rate']:g}"] == row["epochs_run"]
        else:
            assert row["epochs_run"] == 1
        assert row["weights"] == ("scratch" if row["phase"] == "scratch" else "random")
        assert (
            0 <= row["test_accuracy"] <= 1
            and row["total_params"] == row["trainable_params"] + row["non_trainable_params"]
        )
        pred = np.load(out / "predictions" / f"{row['name']}.npz")
        assert pred["labels"].shape == (256,) and pred["probabilities"].shape == (256, 10)
        assert (out / "models" / f"{row['name']}.keras").is_file()
    assert record["best"] == max(record["rows"], key=lambda r: r["test_accuracy"])["name"]
    with open(out / "results.csv") as handle:
        lines = list(csv.DictReader(handle))
    assert [line["name"] for line in lines] == NAMES
    assert not list(out.rglob(".*.tmp")) and not [p for p in out.rglob(".*") if p.is_file()]
    umask = os.umask(0o022)
    os.umask(umask)
    modes = {p.relative_to(out).as_posix(): p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_file()}
    assert set(modes.values()) == {0o666 & ~umask}, modes  # as a plain new file: readable where the umask lets


@pytest.mark.slow
def test_saved_model_reproduces_the_saved_predictions(tiny_run, mnist):
    _, out = tiny_run
    from transferbench.splits import make_splits

    splits = make_splits(mnist, train_limit=512, test_limit=256, seed=42)
    for name in ("cnn", "vgg16_finetuned"):
        model = keras.models.load_model(out / "models" / f"{name}.keras")
        saved = np.load(out / "predictions" / f"{name}.npz")
        np.testing.assert_array_equal(saved["labels"], splits.y_test)
        np.testing.assert_allclose(model.predict(splits.x_test, verbose=0), saved["probabilities"], atol=1e-5)


@pytest.mark.slow
def test_summary_table_is_printed(tiny_run, capsys):
    code, out = tiny_run
    # the fixture ran before capture: print again from the record to check the format
    from transferbench.results import load_results
    from transferbench.summary import print_summary

    print_summary(load_results(out), out)
    text = capsys.readouterr().out
    assert "best model:" in text and "trainable params per accuracy point" in text
    for name in NAMES:
        assert name in text


@pytest.mark.slow
def test_non_empty_out_is_refused_and_left_alone(tiny_run, capsys):
    _, out = tiny_run
    before = (out / "results.json").read_bytes()
    assert main(["run", "--out", str(out), "--models", "cnn"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "results.json").read_bytes() == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--models", "vgg61"], "unknown model 'vgg61' (did you mean 'vgg16'?)"),
        (["run", "--dataset", "mnsit"], "did you mean 'mnist'"),
        (["run", "--fine-tune", "resnet50", "--models", "cnn"], "needs its phase-1 row"),
        (["run", "--epochs", "0"], "epochs must be > 0"),
        (["run", "--weights-file", "vgg16=/nonexistent.h5"], "weights file for vgg16 not found"),
    ],
)
def test_usage_errors_are_one_line_exit_2(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_unknown_flag_suggests_and_has_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "transferbench.cli", "run", "--epocs", "3"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "did you mean '--epochs'" in proc.stderr and "Traceback" not in proc.stderr


def test_list_shows_backbones_and_datasets(capsys):
    assert main(["list"]) == 0
    from transferbench import list_backbones, list_datasets, list_scratch_models

    entries = [
        line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  ") and line.strip()
    ]
    entries = [name for name in entries if name != "ImageNet"]  # a backbone's second line
    expected = [spec.name for listing in (list_backbones, list_scratch_models, list_datasets) for spec in listing()]
    assert entries == expected and {"vgg16", "resnet50", "mobilenetv2", "cnn", "cnn_modern", "mnist"} <= set(entries)


def test_list_into_a_closed_pipe_stops_quietly():
    argv = [sys.executable, "-m", "transferbench.cli", "list"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    proc.stdout.close()  # like `| head -0`: the reader is gone before anything is printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "BrokenPipe" not in err
