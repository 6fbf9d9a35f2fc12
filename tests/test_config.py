"""Config: defaults < TOML file < flags; unknown keys and bad values are errors that name the key."""

from types import SimpleNamespace

import pytest

from transferbench.config import RunConfig, resolve
from transferbench.config_file import load_toml
from transferbench.errors import UsageError


def _toml(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_seeds_settings():
    cfg = RunConfig().validate()
    assert (cfg.input_size, cfg.epochs, cfg.batch_size, cfg.patience) == (32, 10, 128, 3)
    assert (cfg.lr, cfg.cnn_lr, cfg.fine_tune_lr, cfg.fine_tune_epochs) == (1e-4, 1e-3, 1e-5, 5)
    assert cfg.models == ["vgg16", "resnet50", "mobilenetv2", "cnn"] and cfg.fine_tune is None
    assert cfg.seed == 42 and cfg.weights == "imagenet" and cfg.val_fraction == 0.1


def test_flags_override_the_file(tmp_path):
    path = _toml(tmp_path, 'epochs = 4\nlr = 1\nmodels = ["cnn"]\ninput-size = 64\n[weights_files]\nvgg16 = "a.h5"\n')
    cfg = resolve(load_toml(path), {"epochs": 2})
    assert cfg.epochs == 2 and cfg.lr == 1.0 and cfg.models == ["cnn"] and cfg.input_size == 64
    assert cfg.weights_files == {"vgg16": "a.h5"}


def test_run_table_is_accepted(tmp_path):
    assert load_toml(_toml(tmp_path, "[run]\nseed = 7\n")) == {"seed": 7}


@pytest.mark.parametrize(
    "text, message",
    [
        ("epoch = 3\n", "unknown config key 'epoch'.*did you mean 'epochs'"),
        ("epochs = 'ten'\n", "'epochs' must be int, got str"),
        ("epochs = true\n", "'epochs' must be int, got bool"),
        ("lr = [1]\n", "'lr' must be float"),
        ("epochs = = 3\n", "not valid TOML"),
        ("weights_files = 3\n", "must be a table"),
    ],
)
def test_bad_files_name_the_key(tmp_path, text, message):
    with pytest.raises(UsageError, match=message):
        load_toml(_toml(tmp_path, text))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"epochs": 0}, "epochs must be > 0"),
        ({"input_size": 31}, "input_size must be >= 32"),
        ({"val_fraction": 1.0}, r"val_fraction must be in \(0, 1\)"),
        ({"lr": -1.0}, "lr must be a finite number > 0"),
        ({"train_limit": 5}, "train_limit must be >= 20"),
        ({"weights": "imagenett"}, "did you mean 'imagenet'"),
        ({"models": []}, "models is empty"),
        ({"input_sizes": "²"}, "input_sizes must be whole numbers, got '²'"),  # isdigit() but not int()
        ({"seeds": "42,4²"}, "seeds must be a count like 3 or a list like 1,7,42, got .42,4²."),
    ],
)
def test_bad_values_name_the_setting(settings, message):
    with pytest.raises(UsageError, match=message):
        resolve({}, settings)


def test_missing_config_file(tmp_path):
    with pytest.raises(UsageError, match="config file not found"):
        load_toml(tmp_path / "nope.toml")


def test_default_fine_tune_follows_the_models():
    from transferbench.experiment import fine_tune_targets

    assert fine_tune_targets(resolve({}, {"models": ["cnn"]})) == []
    assert fine_tune_targets(resolve({}, {})) == ["vgg16"]
    assert fine_tune_targets(resolve({}, {"fine_tune": ["all"]})) == ["vgg16", "resnet50", "mobilenetv2"]
    assert fine_tune_targets(resolve({}, {"fine_tune": ["none"]})) == []
    with pytest.raises(UsageError, match="needs its phase-1 row"):
        fine_tune_targets(resolve({}, {"models": ["cnn"], "fine_tune": ["vgg16"]}))


def test_feature_pass_batch_keeps_its_pixel_count_unless_set(monkeypatch):
    from transferbench import frozen_features
    from transferbench.backbones import BACKBONES
    from transferbench.config import auto_extract_batch

    assert [auto_extract_batch(size) for size in (32, 64, 96, 224)] == [256, 64, 28, 8]
    seen = []

    def record_batch(extractor, image_sets, *, batch_size, label, **engine):
        seen.append(batch_size)
        raise RuntimeError("stop after the batch size is known")

    monkeypatch.setattr(frozen_features, "extract", record_batch)
    monkeypatch.setattr(frozen_features, "check_cacheable", lambda model, cut: None)
    monkeypatch.setattr(frozen_features, "extractor_for", lambda model, cut, fast_convs=True: None)
    for setting, size in ((None, 96), (100, 96)):
        cfg = RunConfig(input_size=size, extract_batch_size=setting, engine="tf")
        splits = SimpleNamespace(x_train=None, x_val=None, x_test=None)
        cache = SimpleNamespace(get=lambda key, names: None, memory={})
        ctx = SimpleNamespace(index={"train": [], "val": []}, pool=None, splits=splits, cache=cache)
        with pytest.raises(RuntimeError):
            frozen_features.cached_features(None, cfg, ctx, "key", None, "label", BACKBONES["vgg16"])
    assert seen == [28, 100]


def test_the_cli_reference_is_generated_from_the_declarations():
    from pathlib import Path

    from transferbench.cli import build_parser
    from transferbench.config import FIELDS, cli_table, flag_of

    text = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    assert cli_table() in text, "docs/cli.md is stale: regenerate its table with config.cli_table()"
    run = next(a for a in build_parser()._actions if a.dest == "command").choices["run"]
    flags = {opt for action in run._actions for opt in action.option_strings} - {"-h", "--help", "--config", "--resume"}
    assert flags == {flag_of(name) for name in FIELDS}


def test_old_spellings_are_read_with_a_notice(capsys):
    cfg = resolve({}, {"recipe": "seed", "preprocess": "seed"})
    assert (cfg.recipe, cfg.preprocess) == ("course", "course")
    assert "recipe 'seed' is now called 'course'" in capsys.readouterr().err


def test_help_offers_the_current_names_and_the_flags_still_take_the_old(capsys):
    from transferbench.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--help"])
    shown = capsys.readouterr().out
    assert "--recipe {fair,fast,course}" in shown and "--preprocess {backbone,course}" in shown and "seed}" not in shown
    assert parser.parse_args(["run", "--recipe", "seed"]).recipe == "seed"  # resolve() renames it, with a notice
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--recipe", "quick"])
    assert "(choose from 'fair', 'fast', 'course')" in capsys.readouterr().err  # nor does the error offer them


def test_seeds_count_expands_from_the_seed_and_lists_stay(tmp_path):
    assert resolve({}, {"seed": 7, "seeds": 3}).seed_list() == [7, 8, 9]
    assert resolve({}, {"seeds": [5]}).seed_list() == [5]
    assert resolve(load_toml(_toml(tmp_path, "seeds = 2\nseed = 1\n"))).seed_list() == [1, 2]


def test_a_large_seed_count_is_said_back_in_case_one_seed_was_meant(capsys):
    assert len(resolve({}, {"seeds": 47}).seed_list()) == 47
    assert "seeds 47 is a count: every row runs 47 times (seeds 42-88); for seed 47 alone use --seed 47" in (
        capsys.readouterr().err
    )
    resolve({}, {"seeds": 10})
    assert capsys.readouterr().err == ""


def test_run_help_says_each_default_once_and_what_a_no_flag_turns_off():
    from transferbench.cli import build_parser

    run = next(a for a in build_parser()._actions if a.dest == "command").choices["run"]
    helps = {opt: action.help for action in run._actions for opt in action.option_strings}
    assert helps["--no-report"].endswith(": on by default, this flag turns it off")
    assert helps["--fine-tune"].count("default") == 1  # its help explains its own default
    assert helps["--data-file"].endswith("(default: not set)")
    assert not any("(default -)" in text for text in helps.values())


def test_the_recipe_line_counts_epochs_in_words():
    from transferbench.recipes import describe

    course = describe(RunConfig(recipe="course", epochs=1, fine_tune_epochs=2))
    assert "<= 1 epoch," in course and course.endswith("for 2 epochs")
    assert "<= 100 epochs" in describe(RunConfig())


def test_the_fast_recipe_is_fair_with_heads_on_a_short_cosine():
    from transferbench.recipes import FAST_HEAD_EPOCHS, cosine_rate, describe, schedule

    fair, fast = (RunConfig(recipe=name) for name in ("fair", "fast"))
    heads = schedule(fast, "frozen")
    assert (heads.decay, heads.epochs) == ("cosine", FAST_HEAD_EPOCHS) and schedule(fair, "frozen").decay == "constant"
    assert heads.learning_rates == schedule(fair, "frozen").learning_rates
    assert all(schedule(fast, phase) == schedule(fair, phase) for phase in ("scratch", "fine_tuned"))
    assert [cosine_rate(1e-3, epoch, 20) for epoch in (0, 10, 20)] == pytest.approx([1e-3, 5e-4, 0])
    line = describe(fast)
    assert line.startswith("fast: heads try Adam 0.0001, 0.001, 0.01")
    assert "), each rate falling to 0 along a cosine over 20 epochs;" in line
