"""The public API: run -> RunRecord, report, predict, the listings; the record's JSON round trip and schema 1."""

import json

import numpy as np
import pytest
from PIL import Image

import transferbench
from transferbench.errors import UsageError
from transferbench.records import SCHEMA_VERSION, RowResult, RowSpec, RunRecord
from transferbench.results import load_results


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "run"
    config = transferbench.RunConfig(
        models=["mobilenetv2", "mobilenetv2_probe", "cnn"],
        fine_tune=["none"],
        weights="random",
        train_limit=300,
        test_limit=100,
        epochs=1,
        recipe="course",
        disk_cache=False,
    )
    return transferbench.run(config, out=out), out


@pytest.mark.slow
def test_run_returns_the_record_it_wrote(api_run):
    record, out = api_run
    assert isinstance(record, RunRecord) and record.finished and not record.is_grid
    assert [row.id for row in record.rows] == ["mobilenetv2", "mobilenetv2_probe", "cnn"]
    assert all(isinstance(row, RowResult) and row.ok for row in record.rows)
    assert record.best == max(record.rows, key=lambda row: row.test_accuracy)
    assert load_results(out).to_dict() == record.to_dict()
    assert (out / "report.html").is_file() and record.config["out"] == str(out)


@pytest.mark.slow
def test_report_and_predict_through_the_api(api_run, tmp_path):
    record, out = api_run
    assert transferbench.report(out, lang="es") == out / "report.html"
    assert "La respuesta" in (out / "report.html").read_text(encoding="utf-8")
    with np.load(out / "data" / "test_images.npz") as data:
        Image.fromarray(data["images"][0][..., 0]).save(tmp_path / "zero.png")
        label = int(data["labels"][0])
    (tmp_path / "text.png").write_text("not an image")
    first, bad = transferbench.predict(
        out / "models" / "cnn.keras", [tmp_path / "zero.png", tmp_path / "text.png"], normalize=False
    )
    saved = np.load(out / "predictions" / "cnn.npz")["probabilities"][0]
    assert first.top[0] == (str(saved.argmax()), pytest.approx(float(saved.max()), abs=1e-5)) and label >= 0
    assert bad.top is None and "not a readable image" in bad.error
    with pytest.raises(UsageError, match="--top must be at least 1"):
        transferbench.predict(out / "models" / "cnn.keras", [tmp_path / "zero.png"], top=0)


@pytest.mark.slow
def test_resume_through_the_api_keeps_the_finished_rows(api_run):
    record, out = api_run
    again = transferbench.run(resume=out)
    assert [row.to_dict() for row in again.rows] == [row.to_dict() for row in record.rows]


def test_listings_are_the_registries():
    assert [spec.name for spec in transferbench.list_backbones()][:3] == ["vgg16", "resnet50", "mobilenetv2"]
    assert [spec.name for spec in transferbench.list_scratch_models()] == ["cnn", "cnn_modern"]
    assert "mnist" in [spec.name for spec in transferbench.list_datasets()]


def test_row_spec_and_result_round_trip_through_json():
    spec = RowSpec("vgg16@100-s7", "vgg16", "frozen", backbone="vgg16", seed=7, budget=100)
    assert RowSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    result = RowResult.of(spec, test_accuracy=0.5, history={"loss": [1.0]})
    assert RowResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result and result.spec == spec
    with pytest.raises(UsageError, match="does not know \\(colour\\)"):
        RowResult.from_dict({**result.to_dict(), "colour": "red"})


def _v1_record():
    row = {
        "name": "vgg16_finetuned",
        "backbone": "vgg16",
        "phase": "fine_tuned",
        "from": "vgg16",
        "status": "ok",
        "path": "seed-style",
        "preprocess": "seed",
        "test_accuracy": 0.5,
    }
    return {
        "schema_version": 1,
        "config": {"recipe": "seed", "preprocess": "seed"},
        "dataset": {},
        "recipe": "",
        "environment": {},
        "grid": {"seeds": [42], "budgets": ["all"], "input_sizes": [32]},
        "rows": [row],
        "best": "vgg16_finetuned",
        "finished": True,
    }


def test_schema_1_files_are_read_and_unknown_ones_refused(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(_v1_record()))
    record = load_results(tmp_path)
    row = record.rows[0]
    assert (row.id, row.parent, row.path, row.preprocess) == ("vgg16_finetuned", "vgg16", "full-model", "course")
    assert record.config["recipe"] == "course" and record.schema_version == SCHEMA_VERSION
    (tmp_path / "results.json").write_text(json.dumps({**_v1_record(), "schema_version": 99}))
    with pytest.raises(UsageError, match="has results schema 99; this transferbench reads schemas 1 and 2"):
        load_results(tmp_path)
