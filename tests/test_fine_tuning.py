"""Phase 2 continues from the phase-1 model: same head at its start, only the top of the base trains."""

import keras
import numpy as np
import pytest
from conftest import spec_of

from transferbench.config import RunConfig
from transferbench.experiment import run_row
from transferbench.modeling import find_base
from transferbench.records import RowResult

pytestmark = pytest.mark.slow  # trains real rows or runs the CLI end to end


def _head_weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.get_layer("head").weights]


def _conv1(model):
    return keras.ops.convert_to_numpy(find_base(model).get_layer("Conv1").kernel)


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "full-model"])
def test_fine_tuning_starts_from_the_phase_one_head(row_inputs, tmp_path, monkeypatch, cache):
    cfg = RunConfig(
        models=["mobilenetv2"],
        fine_tune=["mobilenetv2"],
        weights="random",
        epochs=1,
        fine_tune_epochs=1,
        batch_size=64,
        cache=cache,
        recipe="course",
    )
    frozen = run_row(spec_of(cfg, "mobilenetv2"), row_inputs(cfg))
    assert frozen.status == "ok", frozen.reason
    phase_one = keras.models.load_model(tmp_path / "models" / "mobilenetv2.keras")

    import transferbench.rows as rows

    seen = {}
    original_fit = rows.fit

    def spy_fit(model, *args, **kwargs):
        seen["head_at_start"] = _head_weights(model)
        return original_fit(model, *args, **kwargs)

    monkeypatch.setattr(rows, "fit", spy_fit)
    row = spec_of(cfg, "mobilenetv2_finetuned", "fine_tuned", parent="mobilenetv2")
    tuned = run_row(row, row_inputs(cfg, parent=frozen))
    assert tuned.status == "ok", tuned.reason
    for start, trained in zip(seen["head_at_start"], _head_weights(phase_one)):
        np.testing.assert_array_equal(start, trained)
    after = keras.models.load_model(tmp_path / "models" / "mobilenetv2_finetuned.keras")
    np.testing.assert_array_equal(_conv1(after), _conv1(phase_one))  # below the cut: unchanged
    top_before = find_base(phase_one).get_layer("Conv_1").kernel
    assert not np.array_equal(
        keras.ops.convert_to_numpy(find_base(after).get_layer("Conv_1").kernel), keras.ops.convert_to_numpy(top_before)
    )  # above the cut: trained
    assert tuned.trainable_params > frozen.trainable_params
    assert tuned.weights == frozen.weights == "random"


def test_fine_tuning_is_skipped_when_its_phase_one_row_was(row_inputs):
    cfg = RunConfig(weights="random")
    parent = RowResult.of(spec_of(cfg, "vgg16"), status="skipped", weights="imagenet")
    row = spec_of(cfg, "vgg16_finetuned", "fine_tuned", parent="vgg16")
    result = run_row(row, row_inputs(cfg, parent=parent))
    assert result.status == "skipped" and "vgg16 is skipped" in result.reason
