"""The fast path is exact: cached features give the full model's outputs, and the cache key tracks its inputs."""

import json

import keras
import numpy as np
import pytest
from conftest import spec_of

from transferbench import feature_cache
from transferbench.backbones import BACKBONES
from transferbench.cli import main
from transferbench.config import RunConfig
from transferbench.experiment import run_row
from transferbench.feature_cache import FeatureCache, feature_key
from transferbench.features import check_cacheable, extract, extractor_for, largest_feature
from transferbench.modeling import build_base, build_transfer_model, choose_weights
from transferbench.training import prepare_fine_tuning, top_model


def _model(name, size=32):
    spec = BACKBONES[name]
    keras.utils.set_random_seed(3)
    base = build_base(spec, size, choose_weights(spec, "random"))
    return spec, *build_transfer_model(spec, base, raw_shape=(28, 28, 1), num_classes=10)


@pytest.mark.slow
def test_assembled_model_predicts_like_the_head_on_cached_features(row_inputs, tmp_path, tiny_splits):
    cfg = RunConfig(
        models=["vgg16"],
        fine_tune=["none"],
        weights="random",
        epochs=2,
        batch_size=32,
        disk_cache=False,
        recipe="course",
    )
    row = run_row(spec_of(cfg, "vgg16"), row_inputs(cfg))
    assert row.status == "ok" and row.path == "cached" and row.features_from_cache is False
    assert row.feature_max > 1e-3  # random VGG16 features do not vanish: no "all but zero" notice
    saved = np.load(tmp_path / "predictions" / "vgg16.npz")["probabilities"]  # head on cached features
    model = keras.models.load_model(tmp_path / "models" / "vgg16.keras")
    np.testing.assert_allclose(model.predict(tiny_splits.x_test, verbose=0), saved, atol=1e-4)


def _outputs(model, x):
    """A model's outputs in one eager call: no predict function to trace per model (the test's cost)."""
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BACKBONES))
def test_top_model_on_cut_activations_equals_the_full_model(name, tiny_splits):
    spec, model, head = _model(name)
    prepare_fine_tuning(model, spec)
    check_cacheable(model, spec.cut_after)
    images = tiny_splits.x_test[:40]
    [(cut, pooled)] = extract(extractor_for(model, spec.cut_after), [images], batch_size=16)
    top = top_model(model, spec.cut_after)
    full = _outputs(model, images)
    np.testing.assert_allclose(_outputs(top, cut), full, atol=1e-4)
    np.testing.assert_allclose(_outputs(head, pooled), full, atol=1e-4)
    # changing the top's trainable weights changes the full model the same way (shared weights)
    rng = np.random.default_rng(0)
    for weight in top.trainable_weights:
        weight.assign(weight + rng.normal(0, 0.05, weight.shape).astype(np.float32))
    after = _outputs(model, images)
    assert not np.allclose(after, full, atol=1e-6)
    # perturbed random weights give large logits, where the top's per-tap matmuls (small_conv.py), which
    # add in another order than the convolution, differ by ~1e-4 relative near a tie
    np.testing.assert_allclose(_outputs(top, cut), after, atol=1e-4, rtol=1e-3)


def test_cacheable_check_rejects_unfrozen_bn_and_random_layers():
    spec, model, _ = _model("mobilenetv2")
    base_layers = model.layers[4].layers
    first_bn = next(l for l in base_layers if isinstance(l, keras.layers.BatchNormalization))
    first_bn.trainable = True
    with pytest.raises(ValueError, match="bn_Conv1 is trainable"):
        check_cacheable(model)
    first_bn.trainable = False
    last_bn = [l for l in base_layers if isinstance(l, keras.layers.BatchNormalization)][-1]
    last_bn.trainable = True  # after the cut: trainable weights are fine, batch statistics are not
    with pytest.raises(ValueError, match="not in inference mode"):
        check_cacheable(model, spec.cut_after)
    last_bn.trainable = False
    inputs = keras.Input((28, 28, 1))
    noisy = keras.Model(inputs, model(keras.layers.RandomRotation(0.1)(inputs)))
    with pytest.raises(ValueError):
        check_cacheable(noisy)


BASE_KEY = dict(
    backbone="vgg16", weights="random:seed=1", input_size=32, preprocess="caffe", data="abc", keras="3", tensorflow="2"
)


@pytest.mark.parametrize(
    "part, value",
    [
        ("backbone", "resnet50"),
        ("weights", "imagenet:ff"),
        ("input_size", 48),
        ("preprocess", "unit"),
        ("data", "abd"),
        ("keras", "3.1"),
        ("tensorflow", "2.1"),
    ],
)
def test_cache_key_changes_when_any_input_changes(part, value):
    assert feature_key(**BASE_KEY) == feature_key(**dict(BASE_KEY))
    assert feature_key(**{**BASE_KEY, part: value}) != feature_key(**BASE_KEY)


def test_cached_features_come_back_aligned_so_a_tensor_can_share_them(tmp_path, monkeypatch):
    monkeypatch.setattr(feature_cache, "READ_BYTES", 96)  # many slices per array, the last one short
    arrays = {"pooled_pool": np.random.default_rng(0).normal(size=(50, 20)).astype(np.float32)}
    arrays["cut_pool"] = np.asfortranarray(arrays["pooled_pool"].reshape(50, 4, 5))  # NumPy's reader keeps its order
    FeatureCache(tmp_path).put("k", arrays, "test")
    loaded = FeatureCache(tmp_path).get("k", list(arrays))
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array)
    assert feature_cache.is_aligned(loaded["pooled_pool"]) and loaded["cut_pool"].flags.f_contiguous
    train = feature_cache.aligned_rows(loaded["pooled_pool"], slice(16, 48))  # 80-byte rows: 16 of them are aligned
    assert np.shares_memory(train, loaded["pooled_pool"]) and feature_cache.is_aligned(train)
    odd = feature_cache.aligned_rows(loaded["pooled_pool"], slice(1, 48))  # an unaligned view: copied
    assert not np.shares_memory(odd, loaded["pooled_pool"]) and feature_cache.is_aligned(odd)


def test_corrupt_cache_entry_is_detected_and_never_used(tmp_path, capsys):
    cache = FeatureCache(tmp_path)
    arrays = {"pooled_train": np.arange(12, dtype=np.float32).reshape(3, 4)}
    cache.put("k1", arrays, "test")
    assert (
        FeatureCache(tmp_path).get("k1", ["pooled_train"])["pooled_train"].tolist() == arrays["pooled_train"].tolist()
    )
    path = cache.path("k1")
    data = bytearray(path.read_bytes())
    offset = data.find(np.float32(5).tobytes())
    data[offset : offset + 4] = np.float32(6).tobytes()  # a flipped value with an intact zip
    path.write_bytes(bytes(data))
    assert FeatureCache(tmp_path).get("k1", ["pooled_train"]) is None
    assert "unusable" in capsys.readouterr().err and not path.exists()
    path.write_bytes(b"PK\x03\x04 truncated")
    assert FeatureCache(tmp_path).get("k1", ["pooled_train"]) is None
    cache.put("k2", arrays, "test")
    assert FeatureCache(tmp_path).get("k2", ["pooled_train", "cut_train"]) is None  # lacks what is needed


@pytest.mark.slow
def test_second_identical_run_skips_extraction_and_cache_cli(tmp_path, capsys):
    argv = [
        "run",
        "--weights",
        "random",
        "--models",
        "mobilenetv2",
        "--fine-tune",
        "mobilenetv2",
        "--train-limit",
        "200",
        "--test-limit",
        "100",
        "--recipe",
        "course",
        "--epochs",
        "1",
        "--fine-tune-epochs",
        "1",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    first, second = (json.loads((tmp_path / r / "results.json").read_text())["rows"] for r in "ab")
    assert first[0]["features_from_cache"] is False and second[0]["features_from_cache"] is True
    assert second[1]["features_from_cache"] is True and second[0]["feature_seconds"] == 0
    assert first[0]["test_accuracy"] == second[0]["test_accuracy"]
    capsys.readouterr()
    assert main(["cache", "info", "--cache-dir", str(tmp_path / "cache")]) == 0
    listing = capsys.readouterr().out
    assert "1 entry," in listing  # what each entry holds, in words a user reads:
    assert "mobilenetv2 (random, seed 42), mnist at 32 px, " in listing and "200 pool + 100 test images" in listing
    assert main(["cache", "clear", "--cache-dir", str(tmp_path / "cache")]) == 0
    assert not list((tmp_path / "cache").rglob("*.npz"))


def test_cache_info_names_a_damaged_entry_and_an_unfinished_write(tmp_path):
    from transferbench.feature_cache import cache_entries

    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "0123abcd.npz").write_bytes(b"not a zip")
    (folder / ".0123abcd.k2j4h1.npz").write_bytes(b"half an entry")  # what a SIGKILL mid-write leaves
    described = {path.name: text for path, text, _ in cache_entries(tmp_path)}
    assert described == {
        "0123abcd.npz": "(unreadable: will be rebuilt)",
        ".0123abcd.k2j4h1.npz": "(an unfinished write left by a killed run: cache clear removes it)",
    }


def test_a_full_disk_costs_the_feature_cache_not_the_run(tmp_path, monkeypatch, capsys):
    from transferbench import feature_cache
    from transferbench.errors import OutputError

    def disk_full(path, write):
        raise OutputError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(feature_cache, "atomic_write", disk_full)
    cache = feature_cache.FeatureCache(tmp_path)
    arrays = {"pooled_train": np.ones((3, 2), np.float32)}
    cache.put("k1", arrays, "test")
    assert "continuing without the disk cache" in capsys.readouterr().err
    cache.put("k2", {"pooled_train": np.zeros((3, 2), np.float32)}, "test")
    assert cache.get("k1", ["pooled_train"]) is arrays  # kept in memory once the disk is out of the game


def test_with_a_disk_cache_only_the_latest_entry_stays_in_memory(tmp_path):
    from transferbench.feature_cache import FeatureCache

    cache = FeatureCache(tmp_path)
    first = {"pooled_train": np.arange(6, dtype=np.float32).reshape(3, 2)}
    cache.put("k1", first, "first")
    cache.put("k2", {"pooled_train": np.zeros((3, 2), np.float32)}, "second")
    assert list(cache.memory) == ["k2"]
    again = cache.get("k1", ["pooled_train"])  # read back from disk, verified
    np.testing.assert_array_equal(again["pooled_train"], first["pooled_train"])
    assert list(cache.memory) == ["k1"]
    assert cache.get("k3", ["pooled_train"]) is None  # a miss: the next extraction starts with nothing held
    assert cache.memory == {}


@pytest.mark.slow
def test_all_but_zero_features_are_noticed_once_per_pass(tmp_path, capsys):
    args = ["run", "--weights", "random", "--models", "mobilenetv2,mobilenetv2_probe", "--fine-tune", "none"]
    args += ["--train-limit", "300", "--test-limit", "100", "--recipe", "course", "--epochs", "1", "--no-report"]
    assert main([*args, "--label-budgets", "100,all", "--out", str(tmp_path / "run"), "--no-disk-cache"]) == 0
    notice = "mobilenetv2 (random, seed 42): the pooled features are all but zero"
    assert capsys.readouterr().err.count(notice) == 1  # one pass feeds four rows: one notice, not four
    rows = json.loads((tmp_path / "run" / "results.json").read_text())["rows"]
    assert len(rows) == 4 and all(row["feature_max"] < 1e-6 for row in rows)


def test_largest_feature_counts_negative_values_and_empty_arrays():
    assert largest_feature(np.array([[0.5, -2.0], [1.0, 0.0]], np.float32)) == 2.0  # swish outputs can be negative
    assert largest_feature(np.zeros((0, 8), np.float32)) == 0.0
