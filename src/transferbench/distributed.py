"""Rows as Ray tasks: the same `run_row(spec, inputs)` on a cluster's workers, the driver alone writing the run folder.

- The data reaches the cluster once: the pool and test arrays are `ray.put` by the driver and every task takes
  their references (Ray moves them to a node once and workers on that node read them without copies); no node
  needs the dataset files or a shared file system.
- Features are extracted once per backbone x input size x weights by one task; the rows that use them (frozen,
  probe, fine-tuned) take its result from the object store.
- A fine-tuned row is submitted when its phase-1 row is committed, with that row's model file as bytes.
- A task lost with its worker or node is retried (MAX_RETRIES) and then recorded `failed` with the reason;
  the other rows go on, and every finished row is committed as it arrives, so `--resume` works after anything.
"""

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

from .errors import UsageError, first_line
from .records import RowResult, RowSpec

MAX_RETRIES = 2  # Ray retries of a task whose worker process or node died
PROGRESS_EVERY_SECONDS = 15
CACHED_PHASES = ("frozen", "probe", "fine_tuned")


def connect(cfg):
    """ray.init for cfg (address auto, HOST:PORT, or a new local Ray): (we connected, dashboard URL or None).

    UsageError, before anything is written, when Ray is missing or the cluster cannot be reached."""
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install -e '.[ray]'") from None
    if ray.is_initialized():
        return False, None
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    where = cfg.ray_address or "a new local Ray"
    if cfg.ray_address and cfg.ray_address != "auto":
        _probe(cfg.ray_address)  # ray.init waits for minutes on an address where nothing listens
    try:
        context = ray.init(address=cfg.ray_address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        raise UsageError(
            f"cannot reach the Ray cluster at {where}: {first_line(exc)}; start one with "
            "`ray start --head` or check --ray-address"
        ) from None
    url = getattr(context, "dashboard_url", None)
    return True, (url if not url or url.startswith("http") else f"http://{url}")


def _probe(address, timeout=5.0):
    """UsageError unless something accepts a TCP connection at HOST:PORT (a Ray head's GCS port)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not (port.isascii() and port.isdigit()):
        raise UsageError(f"--ray-address must be auto or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise UsageError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; start one with `ray start --head` "
            "or check --ray-address"
        ) from None


def disconnect():
    """ray.shutdown (only for a connection `connect` made)."""
    import ray

    ray.shutdown()


def _set_threads(cpus):
    """TensorFlow's thread pools sized to the task's CPUs (a worker that already ran a task has them set)."""
    from .training import limit_threads

    limit_threads(cpus)


def _node():
    """This worker's node address."""
    import ray

    return ray.util.get_node_ip_address() + ":" + ray.get_runtime_context().get_node_id()[:8]


def _inputs(spec, config, data, cache, run_dir, parent=None):
    """RowInputs inside a task."""
    from .config import RunConfig
    from .experiment import RowData, RowInputs

    cfg = RunConfig(**config)
    return RowInputs(cfg, RowData(*data), cache, Path(run_dir), parent), RowSpec.from_dict(spec)


def feature_task(spec, config, cpus, *data):
    """Extract the features a group of rows shares: (key, entry, seconds, node, engine fields)."""
    import keras

    from .experiment import fine_tune_targets
    from .feature_cache import FeatureCache
    from .rows import RowContext, extract_for

    _set_threads(cpus)
    with tempfile.TemporaryDirectory() as scratch:
        inputs, row = _inputs(spec, config, data, FeatureCache(None), scratch)
        cfg = dataclasses.replace(inputs.config, seed=row.seed, input_size=row.input_size)
        keras.utils.set_random_seed(cfg.seed)  # as run_row does: random weights are the rows' own
        ctx = RowContext.of(row, cfg, inputs, fine_tune_targets(cfg))
        key, entry, seconds, used = extract_for(row, cfg, ctx)
    return key, entry, seconds, _node(), used


def row_task(spec, config, features, parent, parent_model, cpus, *data):
    """run_row in a worker's scratch folder: (result dict, {relative path: bytes} of the row's files, node).

    data: the RowData fields, its arrays passed as top-level object references so Ray resolves them."""
    from .experiment import run_row
    from .feature_cache import FeatureCache

    start = time.perf_counter()
    _set_threads(cpus)
    cache = FeatureCache(None)
    if features is not None:
        key, entry = features[0], features[1]
        cache.memory[key] = entry
    with tempfile.TemporaryDirectory() as scratch:
        parent_row = RowResult.from_dict(parent) if parent else None
        if parent_model is not None:
            (Path(scratch) / "models").mkdir()
            (Path(scratch) / "models" / f"{parent_row.id}.keras").write_bytes(parent_model)
        inputs, row = _inputs(spec, config, data, cache, scratch, parent_row)
        result = run_row(row, inputs)
        skip = {f"models/{parent_row.id}.keras"} if parent_row else set()
        files = {
            str(path.relative_to(scratch)): path.read_bytes()
            for path in Path(scratch).rglob("*")
            if path.is_file() and str(path.relative_to(scratch)) not in skip
        }
    result.task_seconds = time.perf_counter() - start
    return result.to_dict(), files, _node()


def _group(spec, cfg):
    """Rows with equal groups use the same features: backbone, input size, and the seed when weights are random."""
    if spec.phase not in CACHED_PHASES or (spec.phase != "probe" and not cfg.cache):
        return None
    return spec.backbone, spec.input_size, spec.seed if cfg.weights == "random" else None


class RayGrid:
    """Submits a plan's rows to Ray and commits each as it finishes."""

    def __init__(self, cfg, plan, run_dir, finished, commit):
        import ray

        self.ray, self.cfg, self.plan, self.run_dir = ray, cfg, plan, Path(run_dir)
        self.finished, self.commit = finished, commit
        self.config = dataclasses.asdict(cfg)
        self.cpus = cfg.cpus_per_row or 1
        env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": str(self.cpus)}}
        self.options = {
            "num_cpus": self.cpus,
            "max_retries": MAX_RETRIES,
            "retry_exceptions": False,
            "runtime_env": env,
        }
        self.row_remote = ray.remote(row_task)
        self.feature_remote = ray.remote(feature_task)
        self.data_refs = {}  # (budget, seed) -> the RowData fields, arrays as object refs (put once)
        self.pending = {}  # ref -> (kind, spec or group)
        self.features = {}  # group -> ref of (key, entry, seconds, node)
        self.feature_seconds = {}  # group -> seconds not yet counted in a row
        self.attempt_start = {}

    def _data(self, spec):
        """The RowData fields of the spec's cell with the arrays in the object store (each array put once)."""
        cell = (spec.budget, spec.seed)
        if cell not in self.data_refs:
            data = self.plan.cell_data[cell]
            if not self.data_refs:
                self.arrays = [self.ray.put(a) for a in (data.pool_x, data.pool_y, data.x_test, data.y_test)]
            self.data_refs[cell] = (*self.arrays, data.train, data.val, data.digest)
        return self.data_refs[cell]

    def _submit(self, spec):
        """Submit a row (and the feature task of its group if none runs yet)."""
        group = _group(spec, self.cfg)
        features = None
        if group is not None:
            if group not in self.features:
                remote = self.feature_remote.options(**self.options, name=f"features {group[0]} {group[1]}px")
                ref = remote.remote(spec.to_dict(), self.config, self.cpus, *self._data(spec))
                self.features[group] = ref
                self.pending[ref] = ("features", group)
            features = self.features[group]
        parent = self.finished.get(spec.parent)
        model = None
        if parent is not None and parent.ok:
            model = (self.run_dir / "models" / f"{parent.id}.keras").read_bytes()
        ref = self.row_remote.options(**self.options, name=f"row {spec.id}").remote(
            spec.to_dict(),
            self.config,
            features,
            parent.to_dict() if parent else None,
            model,
            self.cpus,
            *self._data(spec),
        )
        self.pending[ref] = ("row", spec)

    def run(self, todo, progress):
        """Run the rows of `todo` (RowSpecs in plan order); fine-tuned rows once their parent is committed."""
        waiting = [spec for spec in todo if spec.parent and spec.parent not in self.finished]
        for spec in todo:
            if spec not in waiting:
                self._submit(spec)
        last = time.perf_counter()
        while self.pending:
            done, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=PROGRESS_EVERY_SECONDS)
            if done:
                kind, what = self.pending.pop(done[0])
                if kind == "features":
                    self._features_done(done[0], what)
                else:
                    self._row_done(done[0], what, progress)
                    for child in [s for s in waiting if s.parent == what.id]:
                        waiting.remove(child)
                        self._submit(child)
            if progress and (done or time.perf_counter() - last >= PROGRESS_EVERY_SECONDS):
                progress.cluster(self._counts())
                last = time.perf_counter()

    def _features_done(self, ref, group):
        """Note the extraction's seconds (counted in the first row of the group to finish)."""
        try:
            _, _, seconds, node, used = self.ray.get(ref)
            self.feature_seconds[group] = seconds, used
            print(f"features of {group[0]} at {group[1]} px extracted on {node} in {seconds:.1f}s", flush=True)
        except Exception as exc:  # the rows that need them fail with this reason too
            print(f"feature extraction of {group[0]} failed: {_reason(exc)}", file=sys.stderr)

    def _row_done(self, ref, spec, progress):
        """Commit a finished row, or record it failed with the reason its task was lost."""
        try:
            result, files, node = self.ray.get(ref)
            row = RowResult.from_dict(result)
            row.node = node
            from .results import write_files

            write_files(self.run_dir, files)
        except Exception as exc:
            row = RowResult.of(spec, status="failed", reason=f"its Ray task failed: {_reason(exc)}")
            print(f"row {spec.id} failed: {row.reason}", file=sys.stderr)
        group = _group(spec, self.cfg)
        if row.ok and group in self.feature_seconds:  # the extraction this row's group ran, counted once
            seconds, used = self.feature_seconds.pop(group)
            row.update({"feature_seconds": seconds, "features_from_cache": False, **used})
            row.train_seconds = (row.train_seconds or 0.0) + seconds
        self.finished[spec.id] = row
        self.commit()
        if progress:
            progress.finish(row)

    def _counts(self):
        """Rows done, in flight and their nodes (from Ray's state API when it answers)."""
        rows_in_flight = [what for kind, what in self.pending.values() if kind == "row"]
        try:
            from ray.util.state import list_tasks

            tasks = list_tasks(filters=[("state", "=", "RUNNING")], timeout=2, raise_on_missing_output=False)
            running = [
                (task.name, (task.node_id or "?")[:8]) for task in tasks if task.name.startswith(("row", "feat"))
            ]
        except Exception:  # no state API (no dashboard): counts only
            running = None
        return {"done": len(self.finished), "in_flight": len(rows_in_flight), "running": running}


def _reason(exc):
    """One line for a lost task: the error raised inside it when there is one, without terminal colours."""
    import re

    exc = getattr(exc, "cause", None) or exc
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"
