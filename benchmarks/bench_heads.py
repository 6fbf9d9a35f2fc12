"""The fair recipe's head search, side by side against one candidate after another, on the same cached features.

    python benchmarks/bench_heads.py                                   # all of MNIST, vgg16, resnet50, mobilenetv2
    python benchmarks/bench_heads.py --train-limit 6000 --test-limit 1000 --models mobilenetv2

Runs `transferbench run --recipe fair --fine-tune none --weights random` twice in child processes on one feature
cache: with `--head-search sequential` (which extracts the features, unless `--work` holds a cache with them), then
with `--head-search side-by-side` on the cached features. Prints, per backbone, the extraction time, each search's
seconds, the chosen learning rate, epochs and test accuracy, and the speed-up. Other flags are passed to
`transferbench run`.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run(out, cache, search, passthrough):
    """One child run; its results.json rows by name."""
    command = [sys.executable, "-m", "transferbench.cli", "run", "--recipe", "fair", "--fine-tune", "none"]
    command += ["--weights", "random", "--head-search", search, "--cache-dir", str(cache), "--no-report"]
    command += [*passthrough, "--out", str(out)]
    print("running:", " ".join(command[2:]), flush=True)
    with open(f"{out}.log", "w") as log:
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
    if code not in (0, 3):
        sys.exit(f"the run failed with exit code {code}; see {out}.log")
    return {row["name"]: row for row in json.loads((out / "results.json").read_text())["rows"]}


def head_seconds(row):
    """Seconds of head training alone (the row's train_seconds include its feature pass)."""
    return row["train_seconds"] - (row["feature_seconds"] or 0.0)


def main():
    """Search both ways on the same features, print the comparison; the last line gives the speed-ups."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="vgg16,resnet50,mobilenetv2", help="backbones (default: %(default)s)")
    parser.add_argument("--work", metavar="DIR", help="folder for the runs and the cache (default: a temporary one)")
    args, passthrough = parser.parse_known_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_heads_"))
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_handwriting import cpu_model

    print(f"CPU: {cpu_model()}")
    passthrough += ["--models", args.models]
    sequential = run(work / "sequential", work / "cache", "sequential", passthrough)
    together = run(work / "side_by_side", work / "cache", "side-by-side", passthrough)
    speedups = []
    print(
        f"{'backbone':<12} {'extract s':>9} | {'sequential s':>12} {'lr':>6} {'epochs':>6} {'acc':>7} | "
        f"{'side-by-side s':>14} {'lr':>6} {'epochs':>6} {'acc':>7} | speed-up"
    )
    for name in args.models.split(","):
        old, new = sequential[name], together[name]
        ratio = head_seconds(old) / head_seconds(new)
        speedups.append(f"{name} {ratio:.2f}x")
        extract = "cached" if old["features_from_cache"] else f"{old['feature_seconds']:.1f}"
        print(
            f"{name:<12} {extract:>9} | {head_seconds(old):12.1f} {old['learning_rate']:6g} "
            f"{old['epochs_run']:6d} {old['test_accuracy']:7.2%} | {head_seconds(new):14.1f} "
            f"{new['learning_rate']:6g} {new['epochs_run']:6d} {new['test_accuracy']:7.2%} | {ratio:.2f}x"
        )
    print("head search side by side vs sequential: " + ", ".join(speedups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
