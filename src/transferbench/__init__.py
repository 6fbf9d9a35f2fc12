"""transferbench: does an ImageNet backbone beat a CNN from scratch on your small image dataset?

The public API: `run(config) -> RunRecord`, `report(run_dir)`, `predict(model_path, images)`, `RunConfig`, and
the registries' listings. Heavy libraries (TensorFlow) load only when a function needs them.
"""

__version__ = "0.1.0"

from .api import Prediction, list_backbones, list_datasets, list_scratch_models, predict, report, run  # noqa: E402
from .config import RunConfig  # noqa: E402
from .records import RowResult, RowSpec, RunRecord  # noqa: E402

__all__ = [
    "RunConfig",
    "RunRecord",
    "RowSpec",
    "RowResult",
    "Prediction",
    "run",
    "report",
    "predict",
    "list_backbones",
    "list_datasets",
    "list_scratch_models",
]
