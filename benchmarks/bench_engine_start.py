"""What a feature pass pays before its first image on each engine, and from how many images OpenVINO repays it.

Per backbone and size: the start of a pass on TensorFlow (tracing its tf.function and the first call) and on
OpenVINO (engines.choose: converting, compiling, the check against TensorFlow and the timing of both engines), both
rates over `--batches` batches (best of two), and the break-even: the images a pass needs before OpenVINO's faster
images pay back its later start. `--engine auto` keeps shorter passes on TensorFlow (engines.AUTO_MIN_IMAGES_AT_32,
scaled by the input's area); the last line compares the measured break-evens with that rule. Random weights,
MNIST-shaped uint8 inputs.

    python benchmarks/bench_engine_start.py [--batches 8] [--backbones mobilenetv2,resnet50]
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from transferbench.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()
import keras  # noqa: E402
import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
import tensorflow as tf  # noqa: E402
from machine import cpu_model, timed  # noqa: E402

from transferbench.backbones import BACKBONES  # noqa: E402
from transferbench.config import auto_extract_batch  # noqa: E402
from transferbench.engines import AUTO_MIN_IMAGES_AT_32, choose, tf_forward  # noqa: E402
from transferbench.features import extractor_for  # noqa: E402
from transferbench.modeling import build_base, build_transfer_model, choose_weights  # noqa: E402


def measure(name, size, batches, threads):
    """(tf start s, ov start s, tf img/s, ov img/s) for a backbone's feature pass at a size."""
    spec = BACKBONES[name]
    keras.utils.set_random_seed(0)
    base = build_base(spec, size, choose_weights(spec, "random"))
    model, _ = build_transfer_model(spec, base, raw_shape=(28, 28, 1), num_classes=10)
    batch = auto_extract_batch(size)
    images = np.random.default_rng(0).integers(0, 256, (batches * batch, 28, 28, 1)).astype(np.uint8)
    first = images[:batch]
    extractor, plain = extractor_for(model, None), extractor_for(model, None, fast_convs=False)

    def started(make):
        """Seconds from nothing to the first batch's features, and the forward function made."""
        made = []
        seconds = timed(lambda: made.append(make()) or made[0](first))
        return seconds, made[0]

    tf_first, tf_pass = started(lambda: tf_forward(extractor, images)[0])
    ov_first, ov_pass = started(
        lambda: choose(extractor, images, "openvino", threads, label=name, plain=plain, batch=batch)[0]
    )

    def rate(forward):
        """Images/s over every batch, best of two."""
        return len(images) / min(
            timed(lambda: [forward(images[b : b + batch]) for b in range(0, len(images), batch)]) for _ in "ab"
        )

    tf_rate, ov_rate = rate(tf_pass), rate(ov_pass)
    return tf_first - batch / tf_rate, ov_first - batch / ov_rate, tf_rate, ov_rate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=8, help="batches per timed pass (default 8)")
    parser.add_argument("--backbones", default="mobilenetv2,resnet50,efficientnetb0,vgg16")
    args = parser.parse_args()
    threads = os.cpu_count()
    print(f"CPU: {cpu_model()}, {threads} cores")
    print(f"OpenVINO {ov.__version__}, TensorFlow {tf.__version__}; random weights, {args.batches} batches per rate")
    print(
        f"{'backbone':<17} {'px':>3} {'tf start s':>10} {'ov start s':>10} {'tf img/s':>9} {'ov img/s':>9} "
        f"{'break-even images':>17} {'at 32 px':>9}"
    )
    at_32 = []
    for name in args.backbones.split(","):
        for size in (32, 96):
            tf_start, ov_start, tf_rate, ov_rate = measure(name, size, args.batches, threads)
            saved = 1 / tf_rate - 1 / ov_rate  # seconds OpenVINO saves per image
            even = (ov_start - tf_start) / saved if saved > 0 else float("inf")
            scaled = even * (size / 32) ** 2
            at_32.append(scaled)
            print(
                f"{name:<17} {size:>3} {tf_start:>10.2f} {ov_start:>10.2f} {tf_rate:>9.0f} {ov_rate:>9.0f} "
                f"{even:>17,.0f} {scaled:>9,.0f}",
                flush=True,
            )
            keras.backend.clear_session()
    finite = sorted(v for v in at_32 if np.isfinite(v))
    median = f"{np.median(finite):,.0f}" if finite else "none (OpenVINO was never faster)"
    print(f"break-even in 32 px images: median {median}; auto converts from {AUTO_MIN_IMAGES_AT_32:,}")


if __name__ == "__main__":
    main()
