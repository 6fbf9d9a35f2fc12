"""Run settings, declared once: each field carries its type, default, help and limits; the CLI flags, the TOML
keys, the validation and docs/cli.md all come from these declarations (defaults < file < flags)."""

import dataclasses
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Literal

from .errors import UsageError, did_you_mean

DEFAULT_MODELS = ("vgg16", "resnet50", "mobilenetv2", "cnn")
MAX_INPUT_SIZE = 512  # larger inputs exhaust memory in the feature pass; ImageNet backbones are trained at 224
CALIBRATION_IMAGES = 300  # int8: NNCF's default subset size, drawn (seeded) from the training pool
SEEDS_WORTH_A_NOTE = 10  # a larger seed count is said back, in case a single seed was meant
OLD_SPELLINGS = {("recipe", "seed"): "course", ("preprocess", "seed"): "course"}  # renamed values still accepted


def setting(default, help, *, minimum=None, maximum=None, exclusive=False, flag=None, metavar=None):
    """A RunConfig field with its help text and limits (minimum/maximum inclusive unless exclusive)."""
    meta = {"help": help, "minimum": minimum, "maximum": maximum, "exclusive": exclusive, "flag": flag}
    meta["metavar"] = metavar
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    """Every setting of `transferbench run`; the resolved copy is saved in results.json."""

    dataset: str = setting("mnist", "dataset name (see `transferbench list`), or folder:PATH for your images")
    data_file: str | None = setting(None, "local dataset file, checked by sha256, tried first", metavar="PATH")
    models: list[str] = setting(list(DEFAULT_MODELS), "rows to run: backbones, NAME_probe, cnn, cnn_modern")
    fine_tune: list[str] | None = setting(
        None, "backbones fine-tuned after their frozen row: none, all or names (default: vgg16 when it runs)"
    )
    weights: Literal["imagenet", "random"] = setting(
        "imagenet", "backbone weights: imagenet (never silently replaced) or random (labelled so everywhere)"
    )
    weights_files: dict[str, str] = setting(
        {},
        "local weights file for one backbone (.h5 or .weights.h5); repeatable",
        flag="--weights-file",
        metavar="MODEL=PATH",
    )
    input_size: int = setting(
        32, "square input side in pixels (the course used 32)", minimum=32, maximum=MAX_INPUT_SIZE, metavar="PX"
    )
    preprocess: Literal["backbone", "course"] = setting(
        "backbone", "backbone: each backbone's own preprocess_input; course: [0, 1] pixels for all, as the course"
    )
    recipe: Literal["fair", "fast", "course"] = setting(
        "fair",
        "fair: heads try Adam 1e-4/1e-3/1e-2 up to 100 epochs, early stopping everywhere; fast: as fair, but each "
        "head rate falls to 0 along a cosine over 20 epochs (a quicker head search that can cost accuracy); course: "
        "exactly the course notebook's settings (the flags below)",
    )
    epochs: int = setting(
        10, "epoch cap of scratch models (and of heads in the course recipe)", minimum=0, exclusive=True
    )
    batch_size: int = setting(128, "training batch size", minimum=0, exclusive=True)
    patience: int = setting(
        3, "course recipe: early-stopping patience on val_loss, 0 = off (fair and fast use 5)", minimum=0
    )
    lr: float = setting(1e-4, "course recipe: Adam learning rate of heads", minimum=0, exclusive=True)
    cnn_lr: float = setting(1e-3, "Adam learning rate of the scratch CNN", minimum=0, exclusive=True)
    fine_tune_epochs: int = setting(5, "fine-tuning epochs", minimum=0, exclusive=True)
    fine_tune_lr: float = setting(1e-5, "fine-tuning Adam learning rate", minimum=0, exclusive=True)
    val_fraction: float = setting(
        0.1,
        "stratified validation share of the training set (at least 2 images per class)",
        minimum=0,
        maximum=1,
        exclusive=True,
    )
    train_limit: int | None = setting(None, "stratified subset of N training images", minimum=20, metavar="N")
    test_limit: int | None = setting(None, "stratified subset of N test images", minimum=20, metavar="N")
    seed: int = setting(42, "random seed of splits, subsets, weight init and shuffling")
    seeds: int | list[int] | None = setting(
        None,
        "repeat every row: a count N (seed, seed+1, ...) or a list A,B,C; 3 or more give significance (a paired "
        "t-test; 5-10 find small differences)",
        metavar="N|A,B,C",
    )
    label_budgets: list[int | str] | None = setting(
        None,
        "train on stratified subsets of this many labelled images (and all); the report plots accuracy against labels",
        metavar="100,1000,all",
    )
    input_sizes: list[int] | None = setting(None, "repeat the grid at each input size", metavar="32,64,96")
    executor: Literal["local", "ray"] = setting(
        "local", "where rows run: local (this process) or ray (tasks on a Ray cluster; pip install -e '.[ray]')"
    )
    ray_address: str | None = setting(
        None,
        "Ray cluster to use with --executor ray: auto, HOST:PORT, or none to start one on this machine",
        metavar="auto|HOST:PORT",
    )
    cpus_per_row: int | None = setting(
        None,
        "CPUs each row uses: its task's share of a Ray node, and TensorFlow's thread pools (default: 1 per "
        "Ray task, every core locally)",
        minimum=0,
        exclusive=True,
        metavar="N",
    )
    cache: bool = setting(True, "train frozen rows on features computed once (off: the full model every epoch)")
    training_loop: Literal["graph", "keras"] = setting(
        "graph", "graph: many steps per graph call over in-memory arrays; keras: Keras's own fit"
    )
    head_search: Literal["side-by-side", "sequential"] = setting(
        "side-by-side",
        "fair and fast recipes, cached heads: train the learning-rate candidates side by side (one pass over each "
        "batch feeds all, each with its own Adam and early stopping; one that cannot catch the leader at its recent "
        "pace stops) or one after another",
    )
    engine: Literal["auto", "tf", "openvino"] = setting(
        "auto",
        "engine of frozen forward passes: tf, openvino (checked against tf on a sample, falls back when "
        "it differs), auto: openvino where it measured faster, is installed (pip install -e '.[openvino]') and the "
        "pass has at least 25,000 images at 32 px (2,778 at 96 px)",
    )
    precision: Literal["fp32", "int8"] = setting(
        "fp32",
        f"frozen passes in fp32, or int8 on OpenVINO (NNCF post-training quantization on {CALIBRATION_IMAGES} "
        "training images; "
        "each row also records its test accuracy on fp32 features, to show what int8 cost)",
    )
    disk_cache: bool = setting(True, "keep computed features on disk across runs (under cache_dir/features)")
    extract_batch_size: int | None = setting(
        None,
        "images per batch of the feature pass (default: 256 at 32 px, fewer on larger inputs)",
        minimum=0,
        exclusive=True,
        metavar="N",
    )
    cache_dir: str | None = setting(
        None, "cache root (default $TRANSFERBENCH_CACHE or ~/.cache/transferbench)", metavar="DIR"
    )
    out: str | None = setting(None, "run folder (default runs/<UTC timestamp>)", metavar="DIR")
    overwrite: bool = setting(False, "allow writing into an existing non-empty run folder")
    tensorboard: bool = setting(False, "write TensorBoard logs per row under RUN_DIR/tensorboard/")
    report: bool = setting(True, "write figures, report.html and report.md at the end")
    lang: Literal["en", "es"] = setting("en", "report language")

    def validate(self):
        """Check every field against its declaration, then the rules between fields; return self."""
        for name in FIELDS:
            setattr(self, name, check_value(name, getattr(self, name)))
        if not self.models:
            raise UsageError("models is empty: name at least one model")
        if self.precision == "int8" and (self.engine == "tf" or not self.cache):
            raise UsageError("--precision int8 quantizes the cached OpenVINO pass: drop --engine tf / --no-cache")
        if isinstance(self.seeds, int):
            count = self.seeds
            self.seeds = [self.seed + i for i in range(count)]
            if count > SEEDS_WORTH_A_NOTE:  # `--seeds 47` meant as `--seed 47` would run 47 times the work
                listed = f"seeds {self.seeds[0]}-{self.seeds[-1]}"
                print(
                    f"note: seeds {count} is a count: every row runs {count} times ({listed}); "
                    f"for seed {count} alone use --seed {count}",
                    file=sys.stderr,
                )
        return self

    def size_list(self):
        """Input sizes of the run, in increasing order."""
        return sorted(self.input_sizes) if self.input_sizes else [self.input_size]

    def seed_list(self):
        """The seeds of the repeats, in order (one seed, `seed`, when seeds is not set)."""
        return list(self.seeds) if self.seeds else [self.seed]

    def budget_list(self):
        """Label budgets in increasing order: ints, then 'all' (['all'] when not set)."""
        if not self.label_budgets:
            return ["all"]
        numbers = sorted(b for b in self.label_budgets if b != "all")
        return numbers + (["all"] if "all" in self.label_budgets else [])


def auto_extract_batch(input_size):
    """Images per batch of the feature pass: a constant pixel count (256 images at 32 px), never under 8."""
    return max(8, 256 * 32 * 32 // (input_size * input_size))


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
HINTS = typing.get_type_hints(RunConfig)


def choices_of(name):
    """The allowed values of a Literal field, or None."""
    hint = HINTS[name]
    return list(typing.get_args(hint)) if typing.get_origin(hint) is Literal else None


def kind_of(name):
    """The plain kind of a field: int, float, str, bool, list, dict, 'seeds' or 'budgets' (Optional unwrapped)."""
    if name == "seeds":
        return "seeds"
    if name == "label_budgets":
        return "budgets"
    hint = HINTS[name]
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is Literal:
        return str
    return typing.get_origin(hint) or hint


def optional(name):
    """True when None is an allowed value of the field."""
    return type(None) in typing.get_args(HINTS[name])


def _items(value):
    """A list of stripped parts from a comma-separated string, a list, or one scalar."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value) if isinstance(value, list) else [value]


def _whole(text, name):
    """An int from an int or a string of digits, else UsageError."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    digits = text.strip().lstrip("-") if isinstance(text, str) else ""
    if digits.isascii() and digits.isdigit():  # '²' is a digit to isdigit() but not to int()
        return int(text)
    raise UsageError(f"{name} must be whole numbers, got {text!r}")


def parse_value(name, value):
    """Convert a flag string or TOML value to the field's type (lossless conversions only), else UsageError."""
    kind = kind_of(name)
    if value is None and optional(name):
        return None
    if kind == "seeds":
        parts = _items(value)
        try:
            numbers = [_whole(p, "seeds") for p in parts]
        except UsageError:
            raise UsageError(f"seeds must be a count like 3 or a list like 1,7,42, got {value!r}") from None
        if isinstance(value, (int, str)) and len(numbers) == 1:
            return numbers[0]  # a count, expanded from `seed` once every setting is known
        return numbers
    if kind == "budgets":
        return [
            p.lower() if isinstance(p, str) and p.strip().lower() == "all" else _whole(p, name) for p in _items(value)
        ]
    if kind is list:
        parts = _items(value)
        if name == "input_sizes":
            return [_whole(p, name) for p in parts]
        if all(isinstance(p, str) for p in parts):
            return parts
        raise UsageError(f"config key '{name}' must be a list of names, got {value!r}")
    if kind is dict:
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return dict(value)
        raise UsageError(f"config key '{name}' must be a table of name = path, got {type(value).__name__} {value!r}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise UsageError(f"config key '{name}' must be {kind.__name__}, got {type(value).__name__} {value!r}")
    return value


def _check_number(name, value, meta):
    """Raise UsageError when a number is not finite or outside the field's limits."""
    low, high, exclusive = meta["minimum"], meta["maximum"], meta["exclusive"]
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number, got {value}")
    if low is not None and high is not None and exclusive and not low < value < high:
        raise UsageError(f"{name} must be in ({low}, {high}), got {value}")
    if low is not None and (value <= low if exclusive else value < low):
        number = "a finite number " if isinstance(value, float) else ""
        raise UsageError(f"{name} must be {number}{'>' if exclusive else '>='} {low}, got {value}")
    if high is not None and value > high:
        limit = f" (the largest input transferbench supports is {high} px)" if name in ("input_size",) else ""
        raise UsageError(f"{name} must be <= {high}, got {value}{limit}")


def check_value(name, value):
    """A parsed value checked against the field's declaration (choices, limits, list rules); return it."""
    value = parse_value(name, value)
    meta = FIELDS[name].metadata
    if value is None:
        return value
    choices = choices_of(name)
    if choices is not None:
        if (name, value) in OLD_SPELLINGS:
            new = OLD_SPELLINGS[name, value]
            print(f"note: {name} '{value}' is now called '{new}'", file=sys.stderr)
            value = new
        if value not in choices:
            listed = " or ".join(f"'{c}'" for c in choices)
            raise UsageError(f"{name} must be {listed}, got '{value}'{did_you_mean(value, choices)}")
    if kind_of(name) in (int, float):
        _check_number(name, value, meta)
    if name == "seeds" and isinstance(value, int):
        if not 1 <= value <= 100:
            raise UsageError(f"seeds as a count must be 1..100, got {value}")
    elif name in ("seeds", "label_budgets", "input_sizes"):
        _check_list(name, value)
    return value


def _check_list(name, values):
    """Rules of the grid lists: not empty, no repeats, budgets >= 20, sizes in the input-size limits."""
    if not values or len({str(v) for v in values}) != len(values):
        raise UsageError(f"{name} lists a value twice or none: {values}")
    for value in values:
        if name == "label_budgets" and value != "all" and value < 20:
            raise UsageError(f"label budgets must be whole numbers >= 20 or 'all', got '{value}'")
        if name == "input_sizes":
            _check_number("input_sizes", value, FIELDS["input_size"].metadata)


def resolve(file_settings=None, flag_settings=None):
    """Build a validated RunConfig: defaults < file < flags."""
    merged = {**(file_settings or {}), **(flag_settings or {})}
    return RunConfig(**merged).validate()


def from_record(settings, where):
    """Rebuild the RunConfig saved in a run's results.json; UsageError if it does not fit this version."""
    if not isinstance(settings, dict):
        raise UsageError(f"{where}/results.json has no recorded config; it cannot be resumed")
    unknown = sorted(set(settings) - set(FIELDS))
    if unknown:
        raise UsageError(f"{where}/results.json has settings this version does not know ({', '.join(unknown)})")
    try:
        return RunConfig(**{name: value for name, value in settings.items() if value is not None}).validate()
    except UsageError as exc:
        raise UsageError(f"{where}/results.json: {exc}") from None


def flag_of(name):
    """The command-line flag of a field (`--no-NAME` for booleans that default to on)."""
    meta = FIELDS[name].metadata
    if meta["flag"]:
        return meta["flag"]
    if kind_of(name) is bool and FIELDS[name].default is True:
        return "--no-" + name.replace("_", "-")
    return "--" + name.replace("_", "-")


def shown_default(name):
    """The default as a user writes it."""
    default = FIELDS[name].default
    if default is dataclasses.MISSING:
        default = FIELDS[name].default_factory()
    if isinstance(default, list):
        return ",".join(default)
    if default in ({}, None):
        return "-"
    return str(default).lower() if isinstance(default, bool) else str(default)


def cli_table():
    """The Markdown table of every `run` setting (docs/cli.md holds exactly this; a test checks it)."""
    lines = ["| flag | TOML key | default | allowed | meaning |", "|---|---|---|---|---|"]
    for name, spec in FIELDS.items():
        meta = spec.metadata
        allowed = choices_of(name)
        if allowed:
            allowed = " \\| ".join(allowed)
        elif meta["minimum"] is not None or meta["maximum"] is not None:
            low = "" if meta["minimum"] is None else f"{'>' if meta['exclusive'] else '≥'} {meta['minimum']}"
            high = "" if meta["maximum"] is None else f"{'<' if meta['exclusive'] else '≤'} {meta['maximum']}"
            allowed = ", ".join(p for p in (low, high) if p)
        else:
            allowed = ""
        lines.append(f"| `{flag_of(name)}` | `{name}` | `{shown_default(name)}` | {allowed} | {meta['help']} |")
    return "\n".join(lines)
