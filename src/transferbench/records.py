"""The run's schema, in one place: what a row is (RowSpec), what it gave (RowResult), and the whole run (RunRecord).

Each has one to_dict / from_dict; results.json, results.csv, the summary, the report and --resume use them.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from .errors import UsageError

SCHEMA_VERSION = 2  # 1: rows as loose dicts ('from' for the parent row, 'seed' as the course's name)
Phase = Literal["frozen", "probe", "scratch", "fine_tuned"]
Status = Literal["ok", "skipped", "failed"]
Budget = int | Literal["all"]
FLAT_FEATURES = 1e-6  # pooled features all below this in magnitude carry nothing a head can learn from


def all_but_zero(feature_max):
    """Whether pooled features whose largest magnitude is this carry nothing a head can learn from (None: no
    frozen pass, so no)."""
    return feature_max is not None and feature_max < FLAT_FEATURES


@dataclass(frozen=True)
class RowSpec:
    """What to run: one model at one grid cell. JSON-serialisable, so it can be shipped to another process."""

    id: str  # unique in the run: the name, plus '@budget-sSEED' (and the size) in a grid
    name: str  # the model: a backbone, NAME_probe, NAME_finetuned or a scratch model
    phase: Phase
    backbone: str | None = None
    parent: str | None = None  # id of the phase-1 row a fine-tuned row continues from
    seed: int = 42
    budget: Budget = "all"
    input_size: int = 32

    def to_dict(self):
        """Plain JSON-ready fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        """The spec in a dict (extra keys ignored)."""
        return cls(**{name: data[name] for name in SPEC_FIELDS if name in data})


SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(RowSpec))


@dataclass
class RowResult:
    """Everything a row records: its spec, how it ran, its test metrics and costs (None where not produced)."""

    id: str
    name: str
    phase: Phase
    backbone: str | None = None
    parent: str | None = None
    seed: int = 42
    budget: Budget = "all"
    input_size: int = 32
    status: Status = "ok"
    reason: str | None = None  # why a row was skipped or failed
    weights: str | None = None  # 'imagenet', 'random', 'file:...', 'scratch'
    preprocess: str | None = None
    path: str | None = None  # 'cached' (features computed once) or 'full-model' (the base runs every epoch)
    training_loop: str | None = None  # 'graph' or 'keras'
    head_search: str | None = None  # 'side-by-side' or 'sequential' (cached heads with several learning rates)
    test_accuracy: float | None = None
    test_loss: float | None = None
    total_params: int | None = None
    trainable_params: int | None = None
    non_trainable_params: int | None = None
    train_seconds: float | None = None  # all training, feature extraction included
    feature_seconds: float | None = None
    evaluate_seconds: float | None = None
    features_from_cache: bool | None = None
    engine: str | None = None  # the engine of the frozen forward pass: tf or openvino
    precision: str | None = None  # 'fp32' or 'int8' (the frozen pass's, when it ran on OpenVINO in int8)
    fp32_test_accuracy: float | None = None  # an int8 row's head on fp32 test features: what int8 cost
    engine_check: str | None = None  # openvino's difference from tensorflow on a sample, or why it fell back
    engine_speeds: str | None = None  # both engines' images/s on one batch of the pass, on this machine (wall clock)
    feature_max: float | None = None  # largest |pooled feature| in training: below FLAT_FEATURES a head can only guess
    feature_key: str | None = None
    train_size: int | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    lr_grid: dict | None = None  # learning rate -> best validation loss (fair recipe)
    lr_epochs: dict | None = None  # learning rate -> epochs that candidate trained (fair recipe)
    lr_stops: dict | None = None  # learning rate -> why it stopped: patience, cannot win, epoch cap, ... (side by side)
    val_accuracy: float | None = None
    val_loss: float | None = None
    probe_C: float | None = None
    probe_grid: dict | None = None
    unfrozen_layers: list | None = None
    history: dict | None = None  # loss, accuracy, val_loss, val_accuracy per epoch
    node: str | None = None  # the Ray node that ran the row (None: this process)
    task_seconds: float | None = None  # wall time of the row's Ray task in its worker (loading, saving included)

    @classmethod
    def of(cls, spec, **values):
        """A result for this spec with the given fields set."""
        return cls(**spec.to_dict(), **values)

    @property
    def spec(self):
        """The RowSpec this result is for."""
        return RowSpec.from_dict(dataclasses.asdict(self))

    @property
    def ok(self):
        """True when the row finished with test metrics."""
        return self.status == "ok"

    def update(self, values):
        """Set the named fields from a dict; an unknown name is a bug in the runner, so it raises."""
        for key, value in values.items():
            if key not in RESULT_FIELDS:
                raise TypeError(f"RowResult has no field {key!r}")
            setattr(self, key, value)
        return self

    def to_dict(self):
        """Plain JSON-ready fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        """A result from its dict; UsageError naming a field this version does not know."""
        unknown = sorted(set(data) - set(RESULT_FIELDS))
        if unknown:
            raise UsageError(f"a row has fields this version does not know ({', '.join(unknown)})")
        return cls(**data)


RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(RowResult))
NESTED = ("history", "lr_grid", "lr_epochs", "lr_stops", "probe_grid", "unfrozen_layers")
CSV_COLUMNS = tuple(name for name in RESULT_FIELDS if name not in NESTED)  # results.csv: every scalar field


@dataclass
class RunRecord:
    """A run: its resolved config, dataset, grid, environment, rows and grid statistics (results.json)."""

    config: dict
    dataset: dict
    grid: dict  # seeds, budgets, input_sizes
    recipe: str
    environment: dict
    rows: list = field(default_factory=list)  # RowResult, in plan order
    statistics: dict | None = None  # stats.grid_statistics of a grid: cells, crossovers, methods
    finished: bool = False
    started: str | None = None  # UTC time the run (or its first attempt) started, ISO 8601
    schema_version: int = SCHEMA_VERSION

    @property
    def ok_rows(self):
        """Rows that finished with test metrics."""
        return [row for row in self.rows if row.ok]

    @property
    def best(self):
        """The ok row with the highest test accuracy, or None."""
        return max(self.ok_rows, key=lambda row: row.test_accuracy, default=None)

    @property
    def is_grid(self):
        """True when rows repeat over several seeds, label budgets or input sizes."""
        return any(len(self.grid.get(key, [])) > 1 for key in ("seeds", "budgets", "input_sizes"))

    def to_dict(self):
        """The results.json content (with 'best', the best row's id, for other readers)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "rows"}
        data["rows"] = [row.to_dict() for row in self.rows]
        data["best"] = self.best.id if self.best else None
        return {"schema_version": self.schema_version, **{k: v for k, v in data.items() if k != "schema_version"}}

    @classmethod
    def from_dict(cls, data, where="results.json"):
        """A record from results.json content of this schema or of schema 1; UsageError for anything else."""
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise UsageError(f"{where} is not a transferbench results file (no list of rows)")
        version = data.get("schema_version")
        if version == 1:
            data = upgrade_v1(data)
        elif version != SCHEMA_VERSION:
            raise UsageError(
                f"{where} has results schema {version!r}; this transferbench reads schemas 1 and {SCHEMA_VERSION}: "
                "rerun it with this version, or read it with the transferbench that wrote it"
            )
        try:
            rows = [RowResult.from_dict(row) for row in data["rows"]]
            known = {f.name for f in dataclasses.fields(cls)} - {"rows"}
            return cls(**{k: v for k, v in data.items() if k in known}, rows=rows)
        except (TypeError, UsageError) as exc:
            raise UsageError(f"{where} does not fit this version's schema: {exc}") from None


def upgrade_v1(data):
    """Schema 1 -> 2: 'from' becomes 'parent', every row gets an id, 'seed' values of recipe/preprocess become
    'course', the seed-style path is called full-model."""
    renames = {"seed": "course"}
    config = dict(data.get("config") or {})
    for key in ("recipe", "preprocess"):
        config[key] = renames.get(config.get(key), config.get(key))
    rows = []
    for row in data["rows"]:
        row = {**row, "id": row.get("id", row.get("name"))}
        row["parent"] = row.pop("from", None)
        row["preprocess"] = renames.get(row.get("preprocess"), row.get("preprocess"))
        if row.get("path") == "seed-style":
            row["path"] = "full-model"
        rows.append(row)
    return {**data, "config": config, "rows": rows, "schema_version": SCHEMA_VERSION}
