"""Time the seed-style path against the cached path on one subset, in one process; print ratios.

Defaults follow the performance issue: 5,400 training images (10% of them for validation), 1,000 test
images, 32 px, random weights (runs offline), 10 epochs with early stopping off, VGG16 fine-tuned 5 epochs.
The last line is `speedup: X.Yx` (frozen rows + VGG16 fine-tune, seed-style seconds / cached seconds).

    python benchmarks/bench_pipeline.py [--train 5400 --test 1000 --epochs 10 --fine-tune-epochs 5]
"""

import argparse
import contextlib
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from transferbench.cli import import_tensorflow_quietly, quiet_tensorflow

import_tensorflow_quietly()  # TensorFlow's C++ start-up lines, before its log level applies
import tensorflow as tf  # noqa: E402

from transferbench.backbones import BACKBONES  # noqa: E402
from transferbench.config import RunConfig  # noqa: E402
from transferbench.data import load_dataset  # noqa: E402
from transferbench.experiment import make_context, plan_rows, run_row  # noqa: E402
from transferbench.features import extractor_for  # noqa: E402
from transferbench.modeling import build_base, build_transfer_model, choose_weights  # noqa: E402
from transferbench.splits import make_splits  # noqa: E402

FROZEN = ["vgg16", "resnet50", "mobilenetv2"]


def run_path(cache, args, splits, log):
    """Run every row on one path; return {row name: (wall seconds, test accuracy, train + evaluate seconds)}."""
    cfg = RunConfig(
        recipe="seed",  # the protocol: fixed epochs, early stopping off
        models=FROZEN,
        fine_tune=["vgg16"],
        weights="random",
        epochs=args.epochs,
        patience=0,
        fine_tune_epochs=args.fine_tune_epochs,
        input_size=args.input_size,
        cache=cache,
        disk_cache=False,
        seed=args.seed,
    ).validate()
    timings = {}
    with tempfile.TemporaryDirectory() as run_dir:
        ctx = make_context(cfg, splits, run_dir)
        for row in plan_rows(cfg):
            start = time.perf_counter()
            with contextlib.redirect_stdout(log):
                result = run_row(row, cfg, ctx)
            if result["status"] != "ok":
                sys.exit(f"{row['name']} {result['status']}: {result['reason']}")
            ctx.done[row["name"]] = result
            work = result["train_seconds"] + result["evaluate_seconds"]
            timings[row["name"]] = (time.perf_counter() - start, result["test_accuracy"], work)
    return timings


def floor_seconds(name, args, splits):
    """One forward pass of the frozen backbone over every image of the subset."""
    backbone = BACKBONES[name]
    base = build_base(backbone, args.input_size, choose_weights(backbone, "random"))
    model, _ = build_transfer_model(backbone, base, raw_shape=splits.x_train.shape[1:], num_classes=10)
    extractor = extractor_for(model)
    spec = tf.TensorSpec((None, *splits.x_train.shape[1:]), tf.uint8)
    forward = tf.function(lambda x: extractor(x, training=False), input_signature=[spec])
    forward(tf.constant(splits.x_test[:256]))  # trace before timing
    start = time.perf_counter()
    for images in (splits.x_train, splits.x_val, splits.x_test):
        for begin in range(0, len(images), 256):
            forward(tf.constant(images[begin : begin + 256]))
    return time.perf_counter() - start


def main():
    """Parse flags, run both paths and the floor, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=5400)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--fine-tune-epochs", type=int, default=5)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--log", default=os.devnull, help="where the rows' training output goes")
    args = parser.parse_args()
    quiet_tensorflow()
    splits = make_splits(load_dataset("mnist"), train_limit=args.train, test_limit=args.test, seed=args.seed)
    print(
        f"subset: {splits.sizes()}, {args.input_size} px, weights random, epochs {args.epochs} "
        f"(early stopping off), vgg16 fine-tune {args.fine_tune_epochs}; {os.cpu_count()} CPUs",
        flush=True,
    )
    with open(args.log, "w") as log:
        seed_style = run_path(False, args, splits, log)
        cached = run_path(True, args, splits, log)
        floors = {name: floor_seconds(name, args, splits) for name in FROZEN}
    print("seconds = wall time of the row (build, train, evaluate, save)")
    print(f"{'row':<17}{'seed-style s':>13}{'acc %':>8}{'cached s':>10}{'acc %':>8}{'ratio':>8}")
    for name, (slow, slow_acc, _) in seed_style.items():
        fast, fast_acc, _ = cached[name]
        print(f"{name:<17}{slow:>13.1f}{slow_acc * 100:>8.2f}{fast:>10.1f}{fast_acc * 100:>8.2f}{slow / fast:>7.1f}x")
    slow_total, fast_total = (sum(wall for wall, _, _ in t.values()) for t in (seed_style, cached))
    print(f"{'total':<17}{slow_total:>13.1f}{'':>8}{fast_total:>10.1f}{'':>8}{slow_total / fast_total:>7.1f}x")
    frozen_work = sum(cached[name][2] for name in FROZEN)
    floor = sum(floors.values())
    print("floor (one forward pass): " + ", ".join(f"{n} {s:.1f}s" for n, s in floors.items()))
    print(
        f"frozen rows (extraction + head training + evaluation) / floor = {frozen_work:.1f}s / {floor:.1f}s"
        f" = {frozen_work / floor:.2f}; per row: " + ", ".join(f"{n} {cached[n][2] / floors[n]:.2f}" for n in FROZEN)
    )
    print(f"speedup: {slow_total / fast_total:.1f}x")


if __name__ == "__main__":
    main()
