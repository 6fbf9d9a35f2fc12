"""OpenVINO for frozen passes: the same features as TensorFlow (checked, with a fallback), the same accuracies."""

from pathlib import Path

import keras
import numpy as np
import pytest

from transferbench import engines
from transferbench.backbones import BACKBONES
from transferbench.engines import (
    MAX_RELATIVE,
    auto_min_images,
    choose,
    compare_speeds,
    resolve_engine,
    tf_forward,
    why_tensorflow,
)
from transferbench.features import extract, extractor_for
from transferbench.modeling import build_base, build_transfer_model, choose_weights

pytest.importorskip("openvino")
REAL_MOBILENETV2 = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "weights"
    / "mobilenet_v2_1.00_224_imagenet_from_tflite_notop.weights.h5"
)


def _extractor(name, size=32, weights="random", files=None):
    spec = BACKBONES[name]
    keras.utils.set_random_seed(0)
    base = build_base(spec, size, choose_weights(spec, weights, files or {}))
    model, _ = build_transfer_model(spec, base, raw_shape=(28, 28, 1), num_classes=10)
    return extractor_for(model, spec.cut_after, fast_convs=False)


def _relative(extractor, images):
    # the feature pass's way: the images as one batch, split across OpenVINO's streams in static parts
    forward, choice = choose(extractor, images, "openvino", plain=extractor, batch=len(images))
    reference, _ = tf_forward(extractor, images)
    assert choice.engine == "openvino", choice
    return max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(forward(images), reference(images)))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BACKBONES))
def test_openvino_features_equal_tensorflows_for_every_backbone(name, tiny_splits):
    assert _relative(_extractor(name), tiny_splits.x_test[:16]) <= MAX_RELATIVE


@pytest.mark.skipif(
    not REAL_MOBILENETV2.is_file(), reason="the real MobileNetV2 weights (../shared/weights) are absent"
)
def test_openvino_features_equal_tensorflows_with_real_weights(tiny_splits):
    extractor = _extractor("mobilenetv2", 96, "imagenet", {"mobilenetv2": str(REAL_MOBILENETV2)})
    assert _relative(extractor, tiny_splits.x_test[:16]) <= MAX_RELATIVE


def test_a_feature_pass_records_both_engines_speeds_on_this_machine(tiny_splits, monkeypatch, capsys):
    """The row keeps both rates on one batch; when TensorFlow ran clearly faster the run says so, but keeps the
    engine it resolved (the same command must give the same features)."""
    extractor, images = _extractor("mobilenetv3small"), tiny_splits.x_test[:16]
    _, choice = choose(extractor, images, "openvino", plain=extractor, batch=16)
    assert choice.speeds.images == 16 and choice.speeds.openvino > 0 and choice.speeds.tensorflow > 0
    assert "images/s" in choice.record()["engine_speeds"] and "images/s" not in choice.record()["engine_check"]
    assert "ran faster" not in capsys.readouterr().err or choice.speeds.ratio < 1 / 1.1

    rates = iter([100.0, 250.0])  # openvino first, then tensorflow
    monkeypatch.setattr("transferbench.engines.images_per_second", lambda forward, images: next(rates))
    _, choice = choose(extractor, images, "openvino", plain=extractor, batch=16)
    assert choice.engine == "openvino" and choice.speeds.ratio == pytest.approx(0.4)
    assert "tensorflow ran faster here (openvino 100 vs tensorflow 250 images/s (0.40x) on 16 images)" in (
        capsys.readouterr().err
    )


def test_the_feature_pass_splits_batches_across_streams_and_keeps_only_the_extractors_outputs(tiny_splits):
    # EfficientNetB0 converts with ~50 extra outputs (its activations); 21 images in batches of 16 make two streams
    # of 8, a second round and a padded last part
    extractor = _extractor("efficientnetb0")
    images = tiny_splits.x_test[:21]
    forward, choice = choose(extractor, images, "openvino", plain=extractor, batch=16)
    assert choice.engine == "openvino", choice
    outputs, reference = forward(images), tf_forward(extractor, images)[0](images)
    assert [o.shape for o in outputs] == [r.shape for r in reference] and len(outputs) == 2  # cut, pooled
    for a, b in zip(outputs, reference):
        assert np.abs(a - b).max() / np.abs(b).max() <= MAX_RELATIVE


def test_a_pass_over_fewer_images_than_a_batch_splits_them_across_streams_at_their_own_size(tiny_splits, monkeypatch):
    """A batch larger than the data would compile parts of half that batch: the whole pass on one stream, padded."""
    batches, real_choose = [], engines.choose

    def spy(*args, batch, **kwargs):
        batches.append(batch)
        return real_choose(*args, batch=batch, **kwargs)

    monkeypatch.setattr(engines, "choose", spy)
    extractor, images, record = _extractor("mobilenetv3small"), tiny_splits.x_test[:26], []
    pool, test = extract(extractor, [images[:20], images[20:]], batch_size=256, engine="openvino", choice=record)
    assert batches == [20] and record[0].engine == "openvino" and record[0].speeds.images == 20
    for ours, reference in zip(pool, tf_forward(extractor, images[:20])[0](images[:20])):
        assert np.abs(ours - reference).max() / np.abs(reference).max() <= MAX_RELATIVE
    assert [len(o) for o in test] == [6, 6]


def test_a_pass_that_differs_falls_back_to_tensorflow_and_says_so(tiny_splits, monkeypatch, capsys):
    monkeypatch.setattr("transferbench.engines.MAX_RELATIVE", 0.0)
    forward, choice = choose(_extractor("mobilenetv3small"), tiny_splits.x_test[:8], "openvino", label="probe")
    assert choice.engine == "tf" and "fell back to tf" in choice.note
    assert "using TensorFlow" in capsys.readouterr().err
    assert forward(tiny_splits.x_test[:2])[0].shape[0] == 2


@pytest.mark.slow
def test_either_engine_gives_the_same_accuracies(tmp_path):
    import transferbench

    rows = {}
    for engine in ("tf", "openvino"):
        config = transferbench.RunConfig(
            models=["mobilenetv2", "mobilenetv2_probe", "resnet50"],
            fine_tune=["none"],
            weights="random",
            train_limit=400,
            test_limit=200,
            epochs=2,
            recipe="course",
            engine=engine,
            disk_cache=False,
            report=False,
        )
        rows[engine] = transferbench.run(config, out=tmp_path / engine).rows
    for tf_row, ov_row in zip(rows["tf"], rows["openvino"]):
        assert (tf_row.engine, ov_row.engine) == ("tf", "openvino")
        assert abs(tf_row.test_accuracy - ov_row.test_accuracy) <= 0.001, tf_row.id
        assert "max rel" in ov_row.engine_check or ov_row.features_from_cache


@pytest.mark.slow
def test_predict_and_the_page_answer_alike_on_either_engine(digit_run, capsys):
    """OpenVINO for whole-model inference: predict's and the page's probabilities equal TensorFlow's."""
    import transferbench
    from transferbench.results import load_results
    from transferbench.serve import ModelBook

    model_path = digit_run / "models" / "mobilenetv2.keras"
    images = sorted((Path(__file__).parent / "data" / "handwritten").iterdir())[:12]
    by_engine = {e: transferbench.predict(model_path, images, top=10, engine=e) for e in ("tf", "openvino")}
    for ours, theirs in zip(by_engine["openvino"], by_engine["tf"]):
        assert dict(ours.top) == pytest.approx(dict(theirs.top), abs=1e-4)
    capsys.readouterr()
    (missing,) = transferbench.predict(model_path, [digit_run / "no-such.png"], engine="openvino")
    assert missing.error == "file not found" and "openvino (" not in capsys.readouterr().err  # nothing converted
    record = load_results(digit_run)
    books = {e: ModelBook(digit_run, record, e) for e in ("tf", "openvino", "auto")}
    assert {k: m.engine for k, m in books["openvino"].models.items()} == {"mobilenetv2": "openvino", "cnn": "openvino"}
    assert {k: m.engine for k, m in books["auto"].models.items()} == {"mobilenetv2": "openvino", "cnn": "tf"}
    assert {m.engine for m in books["tf"].models.values()} == {"tf"}
    upload = images[0].read_bytes()
    for ours, theirs in zip(books["openvino"].answer(upload), books["tf"].answer(upload)):
        assert ours["id"] == theirs["id"] and ours["engine"] == "openvino"
        assert [t["class"] for t in ours["top"]][:1] == [t["class"] for t in theirs["top"]][:1]
        assert [t["probability"] for t in ours["top"]] == pytest.approx(
            [t["probability"] for t in theirs["top"]], abs=1e-4
        )


@pytest.mark.slow
def test_int8_rows_record_what_int8_cost(tmp_path, capsys):
    """--precision int8: OpenVINO quantized by NNCF; each row keeps its accuracy on fp32 test features beside it.
    The run prints its own calibration line, not NNCF's progress bar."""
    import transferbench

    pytest.importorskip("nncf")
    config = transferbench.RunConfig(
        models=["mobilenetv2", "mobilenetv2_probe"],
        fine_tune=["none"],
        weights="random",
        train_limit=600,
        test_limit=200,
        epochs=2,
        recipe="course",
        precision="int8",
        disk_cache=False,
        report=False,
    )
    rows = transferbench.run(config, out=tmp_path / "int8").rows
    for row in rows:
        assert (row.status, row.engine, row.precision) == ("ok", "openvino", "int8"), row.reason
        assert 0.0 <= row.fp32_test_accuracy <= 1.0 and abs(row.test_accuracy - row.fp32_test_accuracy) < 0.2
    assert rows[0].engine_check.startswith("300 calibration images; vs tensorflow fp32 max abs")
    assert rows[0].engine_speeds.startswith("openvino int8 ") and "vs tensorflow" in rows[0].engine_speeds
    assert float(rows[0].engine_check.split("max rel ")[1].split()[0]) > MAX_RELATIVE  # int8 is not fp32
    printed = capsys.readouterr().out
    assert "calibrating on 300 training images" in printed and "Statistics collection" not in printed


def test_int8_speeds_are_named_int8_and_a_faster_tensorflow_says_to_drop_it(monkeypatch, capsys):
    """On CPUs without int8 dot-product units int8 can gain nothing; the row's own timing is the evidence."""
    rates = iter([100.0, 250.0])  # openvino first, then tensorflow
    monkeypatch.setattr("transferbench.engines.images_per_second", lambda forward, images: next(rates))
    speeds = compare_speeds(None, None, np.zeros((16, 32, 32, 3), np.uint8), "int8", "mobilenetv2 features")
    assert str(speeds) == "openvino int8 100 vs tensorflow 250 images/s (0.40x) on 16 images"
    assert capsys.readouterr().err.strip() == (
        "mobilenetv2 features: tensorflow ran faster here (openvino int8 100 vs tensorflow 250 images/s (0.40x) "
        "on 16 images); int8 gains nothing: drop --precision int8"
    )


def test_int8_needs_the_openvino_pass():
    import transferbench
    from transferbench.errors import UsageError

    for extra in ({"engine": "tf"}, {"cache": False}):
        with pytest.raises(UsageError, match="precision int8"):
            transferbench.RunConfig(precision="int8", **extra).validate()


def test_a_pass_openvino_cannot_compile_falls_back_naming_the_reason(tiny_splits, monkeypatch, capsys):
    """OpenVINO's exceptions put their location first and the reason last: the note keeps the reason."""

    def fails(*args, **kwargs):
        raise RuntimeError("Exception from src/inference/src/cpp/core.cpp:117:\nFakeQuantize node X is not supported\n")

    monkeypatch.setattr("transferbench.engines.openvino_forward", fails)
    _, choice = choose(_extractor("mobilenetv3small"), tiny_splits.x_test[:8], "openvino", label="probe")
    assert choice.engine == "tf" and "FakeQuantize node X is not supported" in choice.note
    assert "using TensorFlow" in capsys.readouterr().err


def test_auto_follows_the_registrys_measured_sizes():
    assert [resolve_engine("auto", BACKBONES[name], 96) for name in ("mobilenetv2", "efficientnetb0", "vgg16")] == [
        "openvino",
        "openvino",
        "tf",
    ]
    assert resolve_engine("auto", None, 96) == "tf"  # a scratch CNN: never measured
    assert resolve_engine("tf", BACKBONES["mobilenetv2"], 96) == "tf"
    assert resolve_engine("openvino", BACKBONES["vgg16"], 96) == "openvino"


def test_auto_keeps_a_pass_too_short_to_repay_the_conversion_on_tensorflow():
    mobilenet = BACKBONES["mobilenetv2"]
    passes = [resolve_engine("auto", mobilenet, 32, images=n) for n in (24_999, 25_000, 70_000)]
    assert passes == ["tf", "openvino", "openvino"]
    assert auto_min_images(96) == 2_778  # a 96 px image costs 9 times a 32 px one
    assert [resolve_engine("auto", mobilenet, 96, images=n) for n in (2_777, 2_778)] == ["tf", "openvino"]
    assert resolve_engine("openvino", mobilenet, 32, images=10) == "openvino"  # asked for: converted however short
    assert resolve_engine("auto", mobilenet, 32, "int8", images=10) == "openvino"  # int8 exists only on OpenVINO
    why = why_tensorflow("auto", mobilenet, 32, 768)
    assert why == (
        "auto: a pass over 768 images at 32 px is too short to repay converting it for OpenVINO, which needs "
        "25,000; --engine openvino forces it"
    )


def test_a_cache_hit_records_the_engine_its_features_really_came_from(tmp_path, monkeypatch, capsys):
    """A pass that fell back to TensorFlow is cached under the OpenVINO key: reading it back must still say tf."""
    import transferbench

    def fails(*args, **kwargs):
        raise RuntimeError("node X is not supported")

    monkeypatch.setattr("transferbench.engines.openvino_forward", fails)
    config = transferbench.RunConfig(
        models=["mobilenetv2_probe"],
        weights="random",
        train_limit=300,
        test_limit=100,
        engine="openvino",
        cache_dir=str(tmp_path / "cache"),
        report=False,
    )
    first = transferbench.run(config, out=tmp_path / "first").rows[0]
    again = transferbench.run(config, out=tmp_path / "again").rows[0]
    assert (first.engine, again.engine) == ("tf", "tf") and "fell back to tf" in first.engine_check
    assert again.features_from_cache and again.engine_check == "features read from the cache"


def test_a_tensorflow_pass_records_why_it_is_not_on_openvino(monkeypatch):
    assert why_tensorflow("tf", BACKBONES["resnet50"]) == "--engine tf"
    assert "measured no faster for vgg16" in why_tensorflow("auto", BACKBONES["vgg16"])
    monkeypatch.setattr("transferbench.engines.openvino_available", lambda: False)
    assert "OpenVINO is not installed" in why_tensorflow("auto", BACKBONES["resnet50"])
