"""Frozen forward passes: TensorFlow's best call against OpenVINO, for each backbone at 32 and 96 px, in one run.

Per backbone and size, over `--batches` batches of the feature pass's size: images/s of TensorFlow's direct
tf.function call; of OpenVINO called once per batch on a LATENCY-compiled model (how predict and the page call it);
of OpenVINO as the feature pass calls it (each batch split across static-shape streams, engines.streams_forward);
the ratio of that to TensorFlow and its largest feature difference; OpenVINO int8 called the same way (NNCF-quantized
on the images themselves; its speed only); and the floor (multiply-adds per image over this CPU's measured float32
matmul rate). Random weights, MNIST-shaped uint8 inputs.

    python benchmarks/bench_engines.py [--batches 8] [--backbones mobilenetv2,resnet50]
"""

import argparse
import contextlib
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from transferbench.cli import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # TensorFlow's C++ start-up lines, before its log level applies
import keras  # noqa: E402
import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
import tensorflow as tf  # noqa: E402
from machine import cpu_model, matmul_rate, timed  # noqa: E402

from transferbench.backbones import BACKBONES  # noqa: E402
from transferbench.config import auto_extract_batch  # noqa: E402
from transferbench.engines import calibration_images, openvino_forward, tf_forward  # noqa: E402
from transferbench.features import extractor_for  # noqa: E402
from transferbench.modeling import build_base, build_transfer_model, choose_weights, find_base  # noqa: E402


def multiply_adds(base):
    """Multiply-adds per image of a backbone's convolutions and dense layers."""
    total = 0
    for layer in base.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            h, w, c = layer.output.shape[1:]
            total += h * w * c * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, keras.layers.Conv2D):
            h, w, out = layer.output.shape[1:]
            total += h * w * out * layer.kernel_size[0] * layer.kernel_size[1] * layer.input.shape[-1] // layer.groups
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return total


def measure(name, size, count, threads, rate):
    """One line of the table for a backbone at a size."""
    spec = BACKBONES[name]
    keras.utils.set_random_seed(0)
    base = build_base(spec, size, choose_weights(spec, "random"))
    model, _ = build_transfer_model(spec, base, raw_shape=(28, 28, 1), num_classes=10)
    extractor = extractor_for(model, None)
    images = np.random.default_rng(0).integers(0, 256, (count, 28, 28, 1)).astype(np.uint8)
    batch = auto_extract_batch(size)
    tf_pass, _ = tf_forward(extractor, images)
    _, call = tf_forward(extractor_for(model, None, fast_convs=False), images)  # what OpenVINO converts
    latency_pass = openvino_forward(call, images, threads)  # predict's and the page's way: one call per batch
    ov_pass = openvino_forward(call, images, threads, batch=batch)  # the feature pass's way: split across streams
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the quantizer's progress line would split the table
            int8_pass = openvino_forward(call, images, threads, calibration_images(images), batch=batch)
    except RuntimeError as exc:  # a run falls back to TensorFlow here; the table says so
        print(f"{name} {size} px: int8 failed: {str(exc).strip().splitlines()[-1][:120]}", flush=True)
        int8_pass = None

    def images_per_second(forward):
        """Best of two timed passes over the images in batches, after one warm-up batch; NaN without a pass."""
        if forward is None:
            return float("nan")
        forward(images[:batch])
        return count / min(
            timed(lambda: [forward(images[b : b + batch]) for b in range(0, count, batch)]) for _ in "ab"
        )

    tf_rate, latency_rate, streams_rate, int8_rate = map(images_per_second, (tf_pass, latency_pass, ov_pass, int8_pass))
    reference, candidate = tf_pass(images[:64]), ov_pass(images[:64])
    diff = max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) for a, b in zip(candidate, reference))
    floor = rate / multiply_adds(find_base(model))
    return tf_rate, latency_rate, streams_rate, streams_rate / tf_rate, diff, floor, int8_rate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=8, help="batches per timed pass (default 8)")
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    args = parser.parse_args()
    threads = os.cpu_count()
    rate = matmul_rate()
    print(f"CPU: {cpu_model()}, {threads} cores; float32 matmul {rate / 1e9:.1f} G multiply-adds/s")
    print(f"OpenVINO {ov.__version__}, TensorFlow {tf.__version__}; random weights, {args.batches} batches per pass")
    print(
        f"{'backbone':<17} {'px':>3} {'tf img/s':>9} {'ov latency':>10} {'ov streams':>10} {'ratio':>6} "
        f"{'rel diff':>9} {'floor img/s':>11} {'ov int8':>8}"
    )
    ratios = {}
    for name in args.backbones.split(","):
        for size in (32, 96):
            count = args.batches * auto_extract_batch(size)
            tf_rate, latency_rate, streams_rate, ratio, diff, floor, int8_rate = measure(
                name, size, count, threads, rate
            )
            ratios[name, size] = ratio
            print(
                f"{name:<17} {size:>3} {tf_rate:>9.0f} {latency_rate:>10.0f} {streams_rate:>10.0f} {ratio:>5.2f}x "
                f"{diff:>9.1e} {floor:>11.0f} {int8_rate:>8.0f}",
                flush=True,
            )
            keras.backend.clear_session()
    wanted = [n for n in ("mobilenetv2", "resnet50", "efficientnetb0") if (n, 96) in ratios]
    print("openvino vs tf at 96 px: " + ", ".join(f"{n} {ratios[n, 96]:.2f}x" for n in wanted))


if __name__ == "__main__":
    main()
