"""`--executor ray` on a real Ray cluster of two nodes, every node on 127.0.0.1 (Ray's own multi-node test helper):
the same answers as local, a worker node killed mid-grid, a killed driver resumed, and clear errors."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # every node and the driver stay on 127.0.0.1
ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from transferbench.cli import main  # noqa: E402

pytestmark = pytest.mark.slow  # starts a cluster and trains rows in its workers

GRID = ["--models", "mobilenetv2,mobilenetv2_probe,cnn", "--fine-tune", "mobilenetv2", "--weights", "random"]
GRID += ["--train-limit", "300", "--test-limit", "100", "--epochs", "1", "--fine-tune-epochs", "1"]
GRID += ["--recipe", "course", "--seeds", "2", "--no-report", "--no-disk-cache", "--cpus-per-row", "1"]
# where and when a row ran, and which row of a group made its features (the first to finish on Ray)
TIMES = {
    "train_seconds",
    "feature_seconds",
    "evaluate_seconds",
    "features_from_cache",
    "engine_check",
    "engine_speeds",
    "node",
    "task_seconds",
}


@pytest.fixture(scope="module")
def cluster():
    """A head node and one worker node, one CPU each, stopped by its own handle."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def _cli(argv, **popen):
    """`transferbench run ARGV` in a child process (its own driver; TensorFlow starts with the rows' threads)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "transferbench.cli", "run", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **popen,
    )


def _rows(out):
    return [
        {k: v for k, v in row.items() if k not in TIMES}
        for row in json.loads((out / "results.json").read_text())["rows"]
    ]


def _same_predictions(a, b):
    for row in json.loads((a / "results.json").read_text())["rows"]:
        left, right = (np.load(run / "predictions" / f"{row['id']}.npz")["probabilities"] for run in (a, b))
        np.testing.assert_array_equal(left, right)


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    proc = _cli([*GRID, "--out", str(out)])
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output[-3000:]
    return out


def test_a_grid_on_ray_equals_the_same_grid_local(cluster, local_grid, tmp_path, capsys):
    out = tmp_path / "ray"
    assert main(["run", *GRID, "--executor", "ray", "--ray-address", cluster.address, "--out", str(out)]) == 0
    assert _rows(out) == _rows(local_grid)
    _same_predictions(out, local_grid)
    record = json.loads((out / "results.json").read_text())
    nodes = {row["node"] for row in record["rows"]}
    assert len(nodes) == 2 and all(node.startswith("127.0.0.1:") for node in nodes)  # tasks crossed node processes
    assert sum(row["features_from_cache"] is False for row in record["rows"]) == 2  # one extraction per seed
    assert not ray.is_initialized()  # the run's own connection is closed


def test_the_fair_recipes_search_on_ray_gives_what_it_gives_here(cluster, tmp_path):
    # a worker gets read-only features from the object store, so its search gathers batches with NumPy; here the
    # search gathers them in the graph: the same batches, so the same row
    argv = ["--models", "mobilenetv2", "--fine-tune", "none", "--weights", "random", "--train-limit", "300"]
    argv += ["--test-limit", "100", "--no-report", "--no-disk-cache", "--cpus-per-row", "1"]
    proc = _cli([*argv, "--out", str(tmp_path / "local")])
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output[-3000:]
    assert (
        main(["run", *argv, "--executor", "ray", "--ray-address", cluster.address, "--out", str(tmp_path / "ray")]) == 0
    )
    (row,) = _rows(tmp_path / "ray")
    assert row["status"] == "ok" and row["head_search"] == "side-by-side" and len(row["lr_epochs"]) == 3
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")


def _wait_for(proc, marker, timeout=300):
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} in: {''.join(seen)[-3000:]}")


def test_a_worker_node_killed_mid_grid(cluster, local_grid, tmp_path):
    out = tmp_path / "run"
    proc = _cli([*GRID, "--executor", "ray", "--ray-address", cluster.address, "--out", str(out)])
    _wait_for(proc, " ok on 127.0.0.1")  # a row is committed, others are in flight
    victim = next(node for node in cluster.worker_nodes)
    cluster.remove_node(victim, allow_graceful=False)  # SIGKILL to the node's processes
    output, _ = proc.communicate(timeout=600)
    cluster.add_node(num_cpus=1)  # give the cluster its second node back for the next tests
    cluster.wait_for_nodes()
    assert proc.returncode in (0, 4), output[-3000:]
    if proc.returncode == 4:  # rows whose task ran out of retries: --resume finishes them
        assert "its Ray task failed" in output
        resumed = _cli(["--resume", str(out)])
        output, _ = resumed.communicate(timeout=600)
        assert resumed.returncode == 0, output[-3000:]
    record = json.loads((out / "results.json").read_text())
    assert [row["status"] for row in record["rows"]] == ["ok"] * 8
    assert _rows(out) == _rows(local_grid)


def test_a_killed_driver_resumes_to_the_uninterrupted_state(cluster, local_grid, tmp_path):
    out = tmp_path / "run"
    proc = _cli([*GRID, "--executor", "ray", "--ray-address", cluster.address, "--out", str(out)])
    _wait_for(proc, " ok on 127.0.0.1")
    proc.send_signal(signal.SIGKILL)  # the driver, by its own handle
    proc.wait(timeout=60)
    committed = json.loads((out / "results.json").read_text())
    assert 1 <= len(committed["rows"]) < 8 and not committed["finished"]
    assert main(["run", "--resume", str(out)]) == 0
    assert _rows(out) == _rows(local_grid)
    _same_predictions(out, local_grid)


def test_ray_missing_or_unreachable_is_one_line_and_nothing_written(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["run", "--models", "cnn", "--executor", "ray", "--ray-address", "127.0.0.1:1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot reach the Ray cluster at 127.0.0.1:1" in err
    assert main(["run", "--models", "cnn", "--executor", "ray", "--ray-address", "127.0.0.1:²", "--out", str(out)]) == 2
    assert "--ray-address must be auto or HOST:PORT, got '127.0.0.1:²'" in capsys.readouterr().err  # not a traceback
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["run", "--models", "cnn", "--executor", "ray", "--out", str(out)]) == 2
    assert "--executor ray needs Ray: pip install -e '.[ray]'" in capsys.readouterr().err
    assert not out.exists()
