"""A grid on `local` (one process, every core) and on a two-node Ray cluster (1 CPU each, all on 127.0.0.1), in
one run: wall times, rows per hour and their ratio, and the overhead per Ray task.

Grid: cnn, mobilenetv2 (frozen) and mobilenetv2_probe x 2 seeds x 3 label budgets on 2,000 MNIST images
(18 rows), random weights, course recipe.

    python benchmarks/bench_scale.py [--train-limit 2000] [--epochs 2]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # noqa: E402


def grid(train_limit, epochs):
    """The benchmark grid's flags."""
    return [
        "--models",
        "cnn,mobilenetv2,mobilenetv2_probe",
        "--fine-tune",
        "none",
        "--weights",
        "random",
        "--train-limit",
        str(train_limit),
        "--test-limit",
        "1000",
        "--epochs",
        str(epochs),
        "--recipe",
        "course",
        "--seeds",
        "2",
        "--label-budgets",
        "200,1000,all",
        "--no-report",
        "--no-disk-cache",
    ]


def timed_run(argv, out):
    """`transferbench run` in a child process: (wall seconds, rows)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "transferbench.cli", "run", *argv, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return wall, json.loads((out / "results.json").read_text())["rows"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-limit", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    from ray.cluster_utils import Cluster

    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores")
    flags = grid(args.train_limit, args.epochs)
    with tempfile.TemporaryDirectory() as scratch:
        local_wall, local_rows = timed_run(flags, Path(scratch) / "local")
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        try:
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            ray_wall, ray_rows = timed_run(
                [*flags, "--executor", "ray", "--ray-address", cluster.address, "--cpus-per-row", "1"],
                Path(scratch) / "ray",
            )
        finally:
            cluster.shutdown()
    rows = len(local_rows)
    local_rate, ray_rate = rows / local_wall * 3600, rows / ray_wall * 3600
    work = [r["train_seconds"] + (r["evaluate_seconds"] or 0) for r in ray_rows]
    overhead = [
        r["task_seconds"] - (r["train_seconds"] - (r["feature_seconds"] or 0)) - (r["evaluate_seconds"] or 0)
        for r in ray_rows
    ]
    same = all(a["test_accuracy"] == b["test_accuracy"] for a, b in zip(local_rows, ray_rows))
    print(
        f"grid: {rows} rows (cnn, mobilenetv2, mobilenetv2_probe x 2 seeds x budgets 200/1000/all), "
        f"{args.train_limit} training images, {args.epochs} epochs"
    )
    print(f"local (1 process, {os.cpu_count()} cores):  {local_wall:7.1f} s  {local_rate:7.1f} rows/hour")
    print(f"ray (2 nodes x 1 CPU on 127.0.0.1): {ray_wall:7.1f} s  {ray_rate:7.1f} rows/hour")
    print(f"ray rows' own work (train + evaluate, features counted once): {sum(work):.1f} s over {rows} rows")
    print(
        f"overhead per Ray task (task wall - its work): median {statistics.median(overhead):.2f} s, "
        f"max {max(overhead):.2f} s (the first task on a worker imports TensorFlow)"
    )
    print(f"accuracies equal to local: {same}")
    print(f"nodes used: {sorted({r['node'] for r in ray_rows})}")
    print(f"ray vs local rows per hour: {ray_rate / local_rate:.2f}x")


if __name__ == "__main__":
    main()
