"""Phase 2 continues from the phase-1 model: same head at its start, only the top of the base trains."""

import keras
import numpy as np

from transferbench.config import RunConfig
from transferbench.experiment import run_row
from transferbench.modeling import find_base


def _head_weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.get_layer("head").weights]


def test_fine_tuning_starts_from_the_phase_one_head(tmp_path, tiny_splits, monkeypatch):
    cfg = RunConfig(models=["mobilenetv2"], fine_tune=["mobilenetv2"], weights="random", epochs=1,
                    fine_tune_epochs=1, batch_size=64)
    frozen = run_row({"name": "mobilenetv2", "backbone": "mobilenetv2", "phase": "frozen"}, cfg, tiny_splits,
                     tmp_path, {})
    assert frozen["status"] == "ok"
    phase_one = keras.models.load_model(tmp_path / "models" / "mobilenetv2.keras")

    import transferbench.experiment as experiment

    seen = {}
    original_fit = experiment.fit

    def spy_fit(model, *args, **kwargs):
        seen["head_at_start"] = _head_weights(model)
        seen["base_kernel"] = keras.ops.convert_to_numpy(find_base(model).get_layer("Conv1").kernel)
        return original_fit(model, *args, **kwargs)

    monkeypatch.setattr(experiment, "fit", spy_fit)
    row = {"name": "mobilenetv2_finetuned", "backbone": "mobilenetv2", "phase": "fine_tuned", "from": "mobilenetv2"}
    tuned = run_row(row, cfg, tiny_splits, tmp_path, {"mobilenetv2": frozen})
    assert tuned["status"] == "ok", tuned["reason"]
    for start, trained in zip(seen["head_at_start"], _head_weights(phase_one)):
        np.testing.assert_array_equal(start, trained)
    after = keras.models.load_model(tmp_path / "models" / "mobilenetv2_finetuned.keras")
    conv1 = find_base(after).get_layer("Conv1").kernel
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(conv1), seen["base_kernel"])  # before the cut
    assert tuned["trainable_params"] > frozen["trainable_params"]
    assert tuned["weights"] == frozen["weights"] == "random"


def test_fine_tuning_is_skipped_when_its_phase_one_row_was(tmp_path, tiny_splits):
    cfg = RunConfig(weights="random")
    row = {"name": "vgg16_finetuned", "backbone": "vgg16", "phase": "fine_tuned", "from": "vgg16"}
    result = run_row(row, cfg, tiny_splits, tmp_path, {"vgg16": {"status": "skipped", "weights": "imagenet"}})
    assert result["status"] == "skipped" and "vgg16 is skipped" in result["reason"]
