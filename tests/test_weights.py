"""Weights: local files load through --weights-file; missing ImageNet weights skip the row, never go random."""

import warnings

import keras
import numpy as np
import pytest
from conftest import spec_of

from transferbench.backbones import BACKBONES, keras_models_dir
from transferbench.config import RunConfig
from transferbench.experiment import run_row
from transferbench.modeling import build_base, choose_weights


@pytest.mark.parametrize("name", ["mobilenetv2", "vgg16"])
def test_save_weights_file_loads_and_reproduces_outputs(tmp_path, name):
    spec = BACKBONES[name]
    keras.utils.set_random_seed(7)
    original = build_base(spec, 32, choose_weights(spec, "random"))
    path = tmp_path / f"{name}.weights.h5"
    original.save_weights(path)
    choice = choose_weights(spec, "imagenet", {name: str(path)})
    assert choice.label.startswith(f"file:{path.name} sha256:")
    keras.utils.set_random_seed(99)  # a different init that the file must overwrite
    loaded = build_base(spec, 32, choice)
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), original.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_weights_file_for_another_architecture_fails_clearly(tmp_path):
    keras.utils.set_random_seed(0)
    path = tmp_path / "vgg.weights.h5"
    build_base(BACKBONES["vgg16"], 32, choose_weights(BACKBONES["vgg16"], "random")).save_weights(path)
    spec = BACKBONES["mobilenetv2"]
    with pytest.raises(ValueError, match="does not fit mobilenetv2"):
        build_base(spec, 32, choose_weights(spec, "imagenet", {"mobilenetv2": str(path)}))


def test_imagenet_offline_gives_a_skipped_row_with_the_reason(tmp_path, row_inputs, monkeypatch):
    spec = BACKBONES["mobilenetv2"]
    if (keras_models_dir() / spec.weights_file_for(32)).exists():
        pytest.skip("ImageNet weights are cached on this machine, so nothing is missing")
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # no network even where there is some
    cfg = RunConfig(models=["mobilenetv2"], weights="imagenet", epochs=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        row = run_row(spec_of(cfg, "mobilenetv2"), row_inputs(cfg))
    assert not [w for w in caught if "input_shape" in str(w.message)]  # Keras's 224 px note is not a user's concern
    assert row.status == "skipped"
    assert spec.weights_file_for(32) in row.reason and str(keras_models_dir()) in row.reason
    assert "--weights-file mobilenetv2=PATH" in row.reason and "--weights random" in row.reason
    assert row.test_accuracy is None and row.weights != "random"
    assert not (tmp_path / "models").exists()
