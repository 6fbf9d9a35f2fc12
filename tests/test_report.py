"""The report and predict from a tiny run folder: figures, tables, languages, image handling."""

import json

import numpy as np
import pytest
from PIL import Image

from transferbench.cli import main
from transferbench.i18n import translator
from transferbench.records import RowResult, RowSpec
from transferbench.reporting import frozen_passes, seconds_with_features

pytestmark = pytest.mark.slow  # trains real rows or runs the CLI end to end

FIGURES = ["training_curves.png", "test_accuracy.png", "feature_maps.png", "examples.png"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny run: mobilenetv2 (frozen + fine-tuned), cnn, and a skipped ImageNet-less resnet50 row."""
    out = tmp_path_factory.mktemp("report") / "run"
    code = main(
        [
            "run",
            "--weights",
            "random",
            "--models",
            "mobilenetv2,cnn",
            "--fine-tune",
            "mobilenetv2",
            "--train-limit",
            "300",
            "--test-limit",
            "100",
            "--recipe",
            "course",
            "--epochs",
            "2",
            "--fine-tune-epochs",
            "1",
            "--out",
            str(out),
            "--tensorboard",
        ]
    )
    assert code == 0
    record = json.loads((out / "results.json").read_text())
    record["rows"].append(
        {
            **record["rows"][0],
            "name": "resnet50",
            "id": "resnet50",
            "backbone": "resnet50",
            "status": "skipped",
            "reason": "ImageNet weights for resnet50 unavailable: test reason",
        }
    )
    (out / "results.json").write_text(json.dumps(record))
    return out


def _not_blank_png(path):
    image = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    return image.shape[0] > 200 and image.shape[1] > 200 and image.var() > 50


def test_every_figure_is_a_real_png(run_dir):
    assert main(["report", str(run_dir)]) == 0
    figures = run_dir / "figures"
    for name in FIGURES + ["confusion_cnn.png", "confusion_mobilenetv2.png", "confusion_mobilenetv2_finetuned.png"]:
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert _not_blank_png(figures / name), name


def test_report_has_every_row_reasons_and_class_reports(run_dir):
    main(["report", str(run_dir)])
    page = (run_dir / "report.html").read_text()
    markdown = (run_dir / "report.md").read_text()
    for name in ("mobilenetv2", "cnn", "mobilenetv2_finetuned", "resnet50"):
        assert f"<td>{name}</td>" in page and f"| {name} |" in markdown
    assert "test reason" in page and "test reason" in markdown
    assert "precision" in page and "0." in page and "data:image/png;base64," in page
    assert "src='http" not in page and 'src="http' not in page  # self-contained
    assert page.count("<img") >= 7


def test_the_answer_names_rows_whose_features_are_all_but_zero(run_dir):
    rows = {row["id"]: row for row in json.loads((run_dir / "results.json").read_text())["rows"]}
    assert rows["mobilenetv2"]["feature_max"] < 1e-6  # random MobileNetV2 at 32 px: its features vanish
    assert rows["cnn"]["feature_max"] is None  # no frozen pass
    main(["report", str(run_dir)])
    answer = (run_dir / "report.md").read_text().split("## ")[1]
    assert "mobilenetv2: the backbone's pooled features are all but zero" in answer


def test_the_report_says_where_the_training_time_went(run_dir):
    rows = [row for row in json.loads((run_dir / "results.json").read_text())["rows"] if row["status"] == "ok"]
    frozen = next(row for row in rows if row["id"] == "mobilenetv2")
    extraction = sum(row["feature_seconds"] or 0.0 for row in rows)

    def part(phase):
        chosen = [row for row in rows if row["phase"] == phase]
        return sum(r["train_seconds"] - (r["feature_seconds"] or 0.0) + (r["evaluate_seconds"] or 0.0) for r in chosen)

    main(["report", str(run_dir)])
    markdown, page = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    split = (
        f"feature extraction {extraction:.1f} s, heads (frozen rows) {part('frozen'):.1f} s, "
        f"fine-tuning {part('fine_tuned'):.1f} s, from scratch {part('scratch'):.1f} s"
    )
    assert f"**Where the training time went:** {split}" in markdown  # the skipped row counts for nothing
    assert f"<b>Where the training time went:</b> {split}</p>" in page
    assert f"- mobilenetv2 at 32 px: {frozen['engine']}, {frozen['feature_seconds']:.1f} s (" in markdown
    main(["report", str(run_dir), "--lang", "es"])
    assert "**En qué se fue el tiempo de entrenamiento:** extracción de rasgos" in (run_dir / "report.md").read_text()
    main(["report", str(run_dir)])


def test_a_pass_run_once_per_seed_shows_its_seconds_summed():
    def row(seed, cached, seconds, px=32):
        spec = RowSpec(f"mobilenetv2@{px}px-s{seed}", "mobilenetv2", "frozen", "mobilenetv2", seed=seed, input_size=px)
        return RowResult.of(spec, engine="tf", features_from_cache=cached, feature_seconds=seconds, train_seconds=5.0)

    rows = [row(42, False, 1.5), row(43, False, 2.0), row(43, True, 0.01), row(42, False, 4.0, px=64)]
    t = translator("en")
    assert frozen_passes(rows, t) == ["mobilenetv2 at 32 px: tf, 3.5 s in 2 passes", "mobilenetv2 at 64 px: tf, 4.0 s"]
    assert frozen_passes(rows[2:3], t) == ["mobilenetv2 at 32 px: tf (features read from the cache)"]
    assert "3.5 s en 2 pasadas" in frozen_passes(rows, translator("es"))[0]


def test_the_cost_against_input_size_counts_a_pass_another_cell_ran():
    def row(name, phase, budget, train, features=None, backbone="mobilenetv2"):
        spec = RowSpec(f"{name}@{budget}", name, phase, backbone, budget=budget)
        return RowResult.of(spec, train_seconds=train, feature_seconds=features)

    rows = [
        row("mobilenetv2", "frozen", 200, 5.0, features=2.0),  # ran the pass: 2 s of its 5
        row("mobilenetv2", "frozen", "all", 1.0, features=0.0),  # read it
        row("mobilenetv2_probe", "probe", "all", 0.5, features=0.0),
        row("cnn", "scratch", "all", 7.0, backbone=None),
    ]
    cost = seconds_with_features(rows)
    assert cost == {"mobilenetv2@200": 5.0, "mobilenetv2@all": 3.0, "mobilenetv2_probe@all": 2.5, "cnn@all": 7.0}


def test_spanish_changes_titles(run_dir):
    main(["report", str(run_dir), "--lang", "es"])
    page = (run_dir / "report.html").read_text()
    assert "Informe de transferbench" in page and "Matriz de confusión" in page
    main(["report", str(run_dir)])
    assert "transferbench report" in (run_dir / "report.html").read_text()


def test_tensorboard_logs_per_row(run_dir):
    for name in ("mobilenetv2", "cnn", "mobilenetv2_finetuned"):
        assert list((run_dir / "tensorboard" / name).rglob("events.out.tfevents.*")), name


def test_report_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a transferbench run folder" in capsys.readouterr().err
    (tmp_path / "results.json").write_text('{"schema_version": 0, "rows": []}')
    assert main(["report", str(tmp_path)]) == 2
    assert "has results schema 0; this transferbench reads schemas 1 and 2" in capsys.readouterr().err


def _digit(dark_on_light, size=140, colour=False):
    """A drawn '1': a thick vertical bar."""
    canvas = np.zeros((size, size), np.uint8)
    canvas[size // 6 : -size // 6, size // 2 - size // 14 : size // 2 + size // 14] = 255
    if dark_on_light:
        canvas = 255 - canvas
    return Image.fromarray(canvas).convert("RGB") if colour else Image.fromarray(canvas)


def test_predict_images_of_every_kind(run_dir, tmp_path, capsys, mnist):
    _digit(True).save(tmp_path / "dark.png")
    _digit(False).save(tmp_path / "light.png")
    _digit(True, colour=True).save(tmp_path / "colour.jpg", quality=95)
    Image.fromarray(np.full((1, 1), 200, np.uint8)).save(tmp_path / "tiny.png")
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    whole = (tmp_path / "light.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    files = ["dark.png", "light.png", "colour.jpg", "tiny.png", "text.png", "empty.png", "missing.png", "cut.png"]
    model = run_dir / "models" / "cnn.keras"
    code = main(["predict", "--model", str(model), "--json", *[str(tmp_path / f) for f in files]])
    captured = capsys.readouterr()
    results = {item["file"].split("/")[-1]: item for item in json.loads(captured.out)}
    assert code == 2
    assert "no ink found" in results["tiny.png"]["error"]  # a uniform image: no digit to read
    for name in ("dark.png", "light.png", "colour.jpg"):
        top = results[name]["top"]
        probabilities = [c["probability"] for c in top]
        assert len({c["class"] for c in top}) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert probabilities[0] >= 0.1 - 1e-6 and 0 <= probabilities[-1] and sum(probabilities) <= 1 + 1e-6
    assert results["dark.png"]["top"][0]["class"] == results["light.png"]["top"][0]["class"]  # inverted alike
    assert "not a readable image" in results["text.png"]["error"]
    assert "empty" in results["empty.png"]["error"] and "not found" in results["missing.png"]["error"]
    assert "cannot decode" in results["cut.png"]["error"]
    assert captured.err.count("transferbench: error:") == 5  # tiny, text, empty, missing, cut


def test_predict_agrees_with_the_run_predictions(run_dir, tmp_path, capsys):
    with np.load(run_dir / "data" / "test_images.npz") as data:
        image, label = data["images"][0], data["labels"][0]
    Image.fromarray(image[..., 0]).save(tmp_path / "test0.png")
    assert (
        main(
            [
                "predict",
                "--model",
                str(run_dir / "models" / "cnn.keras"),
                "--no-normalize",
                "--json",
                str(tmp_path / "test0.png"),
            ]
        )
        == 0
    )
    top = json.loads(capsys.readouterr().out)[0]["top"]
    saved = np.load(run_dir / "predictions" / "cnn.npz")
    assert saved["labels"][0] == label
    assert top[0]["class"] == str(saved["probabilities"][0].argmax())
    assert top[0]["probability"] == pytest.approx(float(saved["probabilities"][0].max()), abs=1e-5)


def test_predict_refuses_a_huge_image_header(run_dir, tmp_path, capsys):
    path = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(path)  # small file, 400 M pixels
    assert main(["predict", "--model", str(run_dir / "models" / "cnn.keras"), str(path)]) == 2
    assert "pixel limit" in capsys.readouterr().err
