"""Run settings: one dataclass with defaults; a TOML file overrides them and CLI flags override the file."""

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError, did_you_mean

DEFAULT_MODELS = ("vgg16", "resnet50", "mobilenetv2", "cnn")


@dataclass
class RunConfig:
    """Every setting of `transferbench run`; the resolved copy is saved in results.json."""

    dataset: str = "mnist"  # dataset registry name
    data_file: str | None = None  # explicit local dataset file, tried before cache/package/download
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))  # rows of phase 1 / scratch
    fine_tune: list[str] | None = None  # backbones that get a phase 2; None: vgg16 when it runs (the seed)
    weights: str = "imagenet"  # "imagenet" or "random" (explicit random init, labelled everywhere)
    weights_files: dict[str, str] = field(default_factory=dict)  # backbone -> local weights file
    input_size: int = 32  # square side fed to every model (the seed uses 32; >= 32)
    preprocess: str = "backbone"  # "backbone": each one's preprocess_input; "seed": [0, 1] for all
    epochs: int = 10  # phase-1 / scratch epochs (upper bound with early stopping)
    batch_size: int = 128  # training batch size
    patience: int = 3  # early stopping on val_loss; 0 turns it off
    lr: float = 1e-4  # Adam learning rate for heads on frozen backbones
    cnn_lr: float = 1e-3  # Adam learning rate for the scratch CNN
    fine_tune_epochs: int = 5  # phase-2 epochs
    fine_tune_lr: float = 1e-5  # phase-2 Adam learning rate
    val_fraction: float = 0.1  # stratified validation share of the training set
    train_limit: int | None = None  # stratified subset of the training set (before the split)
    test_limit: int | None = None  # stratified subset of the test set
    seed: int = 42  # seeds the split, subsets, weight init and shuffling
    out: str | None = None  # run folder; default runs/<UTC timestamp>
    overwrite: bool = False  # allow writing into an existing non-empty run folder
    cache_dir: str | None = None  # default: $TRANSFERBENCH_CACHE or ~/.cache/transferbench
    cache: bool = True  # frozen rows train on features computed once; False = the seed's fit over the full model
    disk_cache: bool = True  # keep computed features on disk across runs (under cache_dir/features)
    tensorboard: bool = False  # write Keras TensorBoard logs per row under <run>/tensorboard/<row>
    report: bool = True  # write figures and report.html / report.md at the end of the run
    lang: str = "en"  # report language: en or es
    extract_batch_size: int | None = None  # images per batch of the feature pass; None: auto_extract_batch
    recipe: str = "fair"  # "fair": heads tuned and trained to convergence; "seed": the course notebook's settings
    seeds: str | None = None  # repeats: "3" = seeds seed..seed+2, or a list "1,7,42"; None = one run at seed
    input_sizes: str | None = None  # "32,64,96": repeat the grid per input size (overrides input_size)
    label_budgets: str | None = None  # "100,1000,all": labelled training examples per cell; None = all

    def validate(self):
        """Raise UsageError naming the first setting that is out of range."""
        positive = ["input_size", "epochs", "batch_size", "fine_tune_epochs", "extract_batch_size"]
        for name in positive:
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise UsageError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.input_size < 32:
            raise UsageError(f"input_size must be >= 32 (keras.applications minimum), got {self.input_size}")
        if self.patience < 0:
            raise UsageError(f"patience must be >= 0, got {self.patience}")
        for name in ("lr", "cnn_lr", "fine_tune_lr"):
            if not 0 < getattr(self, name) < float("inf"):
                raise UsageError(f"{name} must be a finite number > 0, got {getattr(self, name)}")
        if not 0 < self.val_fraction < 1:
            raise UsageError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value < 20:
                raise UsageError(f"{name} must be >= 20 so every class can appear, got {value}")
        if self.weights not in ("imagenet", "random"):
            raise UsageError(
                f"weights must be 'imagenet' or 'random'{did_you_mean(self.weights, ['imagenet', 'random'])}"
            )
        if self.preprocess not in ("backbone", "seed"):
            raise UsageError(f"preprocess must be 'backbone' or 'seed', got '{self.preprocess}'")
        if self.recipe not in ("fair", "seed"):
            raise UsageError(f"recipe must be 'fair' or 'seed'{did_you_mean(self.recipe, ['fair', 'seed'])}")
        if self.lang not in ("en", "es"):
            raise UsageError(f"lang must be 'en' or 'es', got '{self.lang}'")
        if not self.models:
            raise UsageError("models is empty: name at least one model")
        self.seed_list()
        self.budget_list()
        self.size_list()
        return self

    def size_list(self):
        """Input sizes of the resolution study (just input_size when input_sizes is not set)."""
        if self.input_sizes is None:
            return [self.input_size]
        parts = [p.strip() for p in str(self.input_sizes).split(",") if p.strip()]
        if not parts or not all(p.isdigit() and int(p) >= 32 for p in parts):
            raise UsageError(f"input sizes must be whole numbers >= 32, got '{self.input_sizes}'")
        sizes = sorted({int(p) for p in parts})
        if len(sizes) != len(parts):
            raise UsageError(f"input_sizes lists a size twice: '{self.input_sizes}'")
        return sizes

    def seed_list(self):
        """The seeds of the repeats, in order (one seed, `seed`, when seeds is not set)."""
        if self.seeds is None:
            return [self.seed]
        parts = [p.strip() for p in str(self.seeds).split(",") if p.strip()]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise UsageError(f"seeds must be a count like 3 or a list like 1,7,42, got '{self.seeds}'") from None
        if len(numbers) == 1:
            if not 1 <= numbers[0] <= 100:
                raise UsageError(f"seeds as a count must be 1..100, got {numbers[0]}")
            return [self.seed + i for i in range(numbers[0])]
        if len(set(numbers)) != len(numbers):
            raise UsageError(f"seeds lists a seed twice: {self.seeds}")
        return numbers

    def budget_list(self):
        """Label budgets in increasing order: ints, then 'all' (['all'] when not set)."""
        if self.label_budgets is None:
            return ["all"]
        parts = [p.strip().lower() for p in str(self.label_budgets).split(",") if p.strip()]
        budgets = []
        for part in parts:
            if part == "all":
                continue
            if not part.isdigit() or int(part) < 20:
                raise UsageError(f"label budgets must be whole numbers >= 20 or 'all', got '{part}'")
            budgets.append(int(part))
        if len(set(budgets)) != len(budgets) or not parts:
            raise UsageError(f"label_budgets lists a budget twice or none: '{self.label_budgets}'")
        return sorted(budgets) + (["all"] if "all" in parts else [])


def auto_extract_batch(input_size):
    """Images per batch of the feature pass: 256 at 32 px, fewer on larger inputs so a batch keeps the same
    pixel count (at 96 px VGG16's first activations for 256 images are 0.6 GB each; 28 images keep the pass's
    working memory near its 32 px size), never under 8."""
    return max(8, 256 * 32 * 32 // (input_size * input_size))


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def _field_kind(name):
    """The plain type of a field: int, float, str, bool, list or dict (Optional unwrapped)."""
    hint = typing.get_type_hints(RunConfig)[name]
    inner = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is types.UnionType:
        hint = inner[0]
    return typing.get_origin(hint) or hint


def _coerce(name, value):
    """Check one TOML value against the field's type; return it, converted where lossless."""
    kind = _field_kind(name)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (
        name in ("seeds", "label_budgets", "input_sizes")
        and isinstance(value, (int, list))
        and not isinstance(value, bool)
    ):
        return ",".join(str(v) for v in (value if isinstance(value, list) else [value]))
    if kind is list and isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if kind is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if kind is dict and isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return dict(value)
    if kind in (int, float, str, bool) and type(value) is kind:
        return value
    expected = {list: "a list of names", dict: "a table of name = path"}.get(kind, kind.__name__)
    raise UsageError(f"config key '{name}' must be {expected}, got {type(value).__name__} {value!r}")


def load_toml(path):
    """Read a TOML config file into a dict of checked settings."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    raw = raw.get("run", raw)
    settings = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise UsageError(f"unknown config key '{key}' in {path}{did_you_mean(name, FIELDS)}")
        settings[name] = _coerce(name, value)
    return settings


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
        return RunConfig(
            **{name: _coerce(name, value) for name, value in settings.items() if value is not None}
        ).validate()
    except UsageError as exc:
        raise UsageError(f"{where}/results.json: {exc}") from None
