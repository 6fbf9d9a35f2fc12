"""The fair recipe's head search, side by side against one candidate after another, on the same cached features.

    python benchmarks/bench_heads.py                                   # all of MNIST, vgg16, resnet50, mobilenetv2
    python benchmarks/bench_heads.py --train-limit 6000 --test-limit 1000 --models mobilenetv2

Runs `transferbench run --recipe fair --fine-tune none --weights random` twice in child processes on one feature
cache: with `--head-search sequential` (which extracts the features, unless `--work` holds a cache with them), then
with `--head-search side-by-side` on the cached features. Prints, per backbone, the extraction time, each search's
seconds, the chosen learning rate, epochs and test accuracy, and the speed-up; then the side-by-side search's
matmul floor: the epochs every candidate trained (lr_epochs) times the steps per epoch times the two matrix
products a step cannot avoid (the first Dense layer's forward pass and weight gradient), over this CPU's measured
float32 matmul rate. Other flags are passed to `transferbench run`.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run(out, cache, search, passthrough, program=("-m", "transferbench.cli")):
    """One child run (`program`: what the interpreter runs, given the CLI's arguments); its results.json rows by
    name."""
    command = [sys.executable, *program, "run", "--recipe", "fair", "--fine-tune", "none"]
    command += ["--weights", "random", "--head-search", search, "--cache-dir", str(cache), "--no-report"]
    command += [*passthrough, "--out", str(out)]
    print("running:", " ".join(command[1:]), flush=True)
    with open(f"{out}.log", "w") as log:
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
    if code not in (0, 3):
        sys.exit(f"the run failed with exit code {code}; see {out}.log")
    return {row["name"]: row for row in json.loads((out / "results.json").read_text())["rows"]}


def head_seconds(row):
    """Seconds of head training alone (the row's train_seconds include its feature pass)."""
    return row["train_seconds"] - (row["feature_seconds"] or 0.0)


def first_layer(name, input_size):
    """(features, units) of the backbone's head's first Dense layer."""
    from transferbench.backbones import BACKBONES
    from transferbench.modeling import build_base, choose_weights

    spec = BACKBONES[name]
    features = build_base(spec, input_size, choose_weights(spec, "random")).output_shape[-1]
    return features, next(value for kind, value in spec.head if kind == "dense")


def step_multiply_adds(features, units, batch_size):
    """Multiply-adds one candidate's step cannot avoid: its first Dense layer's forward product and weight gradient."""
    return 2 * batch_size * features * units


def floor_seconds(row, rate):
    """Seconds the search's unavoidable matrix products take at `rate` multiply-adds/s."""
    steps = -(-row["train_size"] // row["batch_size"])
    per_step = step_multiply_adds(*first_layer(row["name"], row["input_size"]), row["batch_size"])
    return sum(row["lr_epochs"].values()) * steps * per_step / rate


def extraction_text(row):
    """The row's feature pass in seconds, or 'cached'."""
    return "cached" if row["features_from_cache"] else f"{row['feature_seconds']:.1f} s"


def print_comparison(sequential, together, names, extraction):
    """One line per backbone: each search's seconds, chosen rate, epochs, accuracy, and the speed-up."""
    print(
        f"{'backbone':<12} {'extract':>9} | {'sequential s':>12} {'lr':>6} {'epochs':>6} {'acc':>7} | "
        f"{'side-by-side s':>14} {'lr':>6} {'epochs':>6} {'acc':>7} | speed-up"
    )
    for name in names:
        old, new = sequential[name], together[name]
        print(
            f"{name:<12} {extraction[name]:>9} | {head_seconds(old):12.1f} {old['learning_rate']:6g} "
            f"{old['epochs_run']:6d} {old['test_accuracy']:7.2%} | {head_seconds(new):14.1f} "
            f"{new['learning_rate']:6g} {new['epochs_run']:6d} {new['test_accuracy']:7.2%} | "
            f"{head_seconds(old) / head_seconds(new):.2f}x"
        )


def main():
    """Search both ways on the same features, print the comparison; the last line gives the speed-ups."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="vgg16,resnet50,mobilenetv2", help="backbones (default: %(default)s)")
    parser.add_argument(
        "--floor-only", action="store_true", help="run only the side-by-side search and print its matmul floor"
    )
    parser.add_argument("--work", metavar="DIR", help="folder for the runs and the cache (default: a temporary one)")
    args, passthrough = parser.parse_known_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_heads_"))
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from machine import cpu_model, matmul_rate

    print(f"CPU: {cpu_model()}")
    passthrough += ["--models", args.models]
    names = args.models.split(",")
    sequential = None if args.floor_only else run(work / "sequential", work / "cache", "sequential", passthrough)
    together = run(work / "side_by_side", work / "cache", "side-by-side", passthrough)
    extraction = {name: extraction_text((sequential or together)[name]) for name in names}
    if sequential:
        print_comparison(sequential, together, names, extraction)
    rate = matmul_rate()
    print(f"matmul floor of the side-by-side search (float32 matmul {rate / 1e9:.1f} G multiply-adds/s):")
    for name in names:
        row = together[name]
        epochs = ", ".join(f"{lr} {n}" for lr, n in row["lr_epochs"].items())
        print(
            f"  {name:<12} candidate epochs {epochs}: floor {floor_seconds(row, rate):.1f} s, "
            f"searched in {head_seconds(row):.1f} s; extraction {extraction[name]}"
        )
    if sequential:
        speedups = (f"{n} {head_seconds(sequential[n]) / head_seconds(together[n]):.2f}x" for n in names)
        print("head search side by side vs sequential: " + ", ".join(speedups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
