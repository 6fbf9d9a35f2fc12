"""The course notebook runs headless on a tiny subset."""

import os

import pytest

pytestmark = pytest.mark.slow  # trains real rows or runs the CLI end to end

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def test_notebook_runs_on_a_tiny_subset(tmp_path, monkeypatch):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    notebook = nbformat.read(os.path.join(root, "notebooks", "transfer_learning_mnist.ipynb"), as_version=4)
    for key, value in {
        "TB_TRAIN_LIMIT": "200",
        "TB_TEST_LIMIT": "100",
        "TB_EPOCHS": "1",
        "TB_WEIGHTS": "random",
        "TB_OUT": str(tmp_path / "run"),
    }.items():
        monkeypatch.setenv(key, value)
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert (tmp_path / "run" / "report.html").is_file()
    outputs = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "best model:" in outputs
