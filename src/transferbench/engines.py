"""Engines for frozen forward passes: TensorFlow's own call (the reference) or OpenVINO on the CPU.

OpenVINO runs the same extractor graph, converted with `openvino.convert_model` from its tf.function and compiled
for the CPU in f32 (on CPUs with bf16 units OpenVINO would otherwise compute in bf16) with as many threads as the
row has CPUs. Before its features are used, a sample is checked against TensorFlow's; above MAX_RELATIVE the pass
falls back to TensorFlow, says so in one line, and the row records it.
"""

import contextlib
import importlib.util
import io
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from .config import CALIBRATION_IMAGES
from .i18n import recorded

MAX_RELATIVE = 1e-4  # largest |openvino - tf| / max |tf| accepted, per output
CHECK_IMAGES = 32
MIN_PART = 8  # images per OpenVINO stream's call, at least
TIMED_CALLS = 2  # per engine, best of: one batch each after the check has warmed both
SLOWER_MARGIN = 1.1  # tensorflow this much faster on the timed batch: say so (the choice stays reproducible)
# auto: a feature pass shorter than this many images at 32 px (a pass's cost grows with the input's area) stays on
# TensorFlow, since converting and compiling for OpenVINO (3-9 s a pass) would cost more than it saves
AUTO_MIN_IMAGES_AT_32 = 25_000


def openvino_available():
    """True when the [openvino] extra is installed."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class EngineChoice:
    """The engine a pass used and why: the check's differences, or the reason it fell back to TensorFlow."""

    engine: str
    max_abs: float | None = None
    max_rel: float | None = None
    note: str | None = None
    speeds: "Speeds | None" = None

    def record(self):
        """Fields for the row's result."""
        check = None
        if self.max_rel is not None:
            check = recorded("check", abs=self.max_abs, rel=self.max_rel)
        speeds = str(self.speeds) if self.speeds else None
        return {"engine": self.engine, "engine_check": self.note or check, "engine_speeds": speeds}


@dataclass
class Speeds:
    """Both engines' rates on one batch of the pass, measured on this machine."""

    openvino: float
    tensorflow: float
    images: int
    precision: str = "fp32"  # OpenVINO's; TensorFlow's is always fp32

    @property
    def ratio(self):
        """OpenVINO's rate over TensorFlow's."""
        return self.openvino / self.tensorflow

    def __str__(self):
        engine = "openvino" if self.precision == "fp32" else f"openvino {self.precision}"
        return recorded(
            "speeds", engine=engine, fast=self.openvino, tf=self.tensorflow, ratio=self.ratio, images=self.images
        )


def images_per_second(forward, images, calls=TIMED_CALLS):
    """The best rate of `calls` calls of forward on these images."""
    best = math.inf
    for _ in range(calls):
        start = time.perf_counter()
        forward(images)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def tf_forward(extractor, sample=None):
    """TensorFlow's direct tf.function call of the extractor (faster here than `predict`; XLA was slower)."""
    import tensorflow as tf

    shape = extractor.input_shape[1:] if sample is None else sample.shape[1:]
    dtype = tf.uint8 if sample is None else tf.as_dtype(sample.dtype)
    spec = tf.TensorSpec((None, *shape), dtype)
    call = tf.function(lambda x: extractor(x, training=False), input_signature=[spec])

    def forward(batch):
        outputs = call(tf.constant(batch))
        return [o.numpy() for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]

    return forward, call


def quantize(model, calibration):
    """The OpenVINO model with int8 weights and activations: NNCF's post-training quantization, its ranges
    calibrated on these images."""
    import nncf

    batches = [calibration[i : i + 32] for i in range(0, len(calibration), 32)]
    print(f"quantizing to int8: calibrating on {len(calibration):,} training images", flush=True)
    with contextlib.redirect_stdout(io.StringIO()):  # NNCF's own rich bar would cut into the run's progress lines
        return nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches))


def openvino_forward(call, sample, threads, calibration=None, batch=None):
    """The extractor's tf.function converted and compiled by OpenVINO (f32, `threads` CPU threads); quantized to
    int8 first when calibration images are given. Without `batch` (single images: predict, the page) one call per
    batch on a LATENCY-compiled model; with it, every batch is split across OpenVINO's streams (streams_forward)."""
    import openvino as ov

    model = function_outputs(ov.convert_model(call, example_input=sample[:8]), call)
    if calibration is not None:
        model = quantize(model, calibration)
    config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    if batch is not None:
        return streams_forward(model, config, batch, sample.shape[1:])
    compiled = ov.Core().compile_model(model, "CPU", {**config, "PERFORMANCE_HINT": "LATENCY"})
    outputs = compiled.outputs

    def forward(images):
        result = compiled(images)
        return [np.asarray(result[o], np.float32) for o in outputs]

    return forward


def function_outputs(model, call):
    """The converted model cut down to the tf.function's own outputs, in their order: the converter also makes every
    Keras activation and Resizing's sizes an output, which costs EfficientNetB0 half its speed."""
    import openvino as ov

    names = [t.name for t in call.get_concrete_function().outputs]
    found = {name: result for result, out in zip(model.get_results(), model.outputs) for name in out.get_names()}
    return ov.Model([found[name] for name in names], model.get_parameters(), model.friendly_name)


def streams_forward(model, config, batch, image_shape):
    """Batches of up to `batch` images split into equal static-shape parts, one per OpenVINO stream (one stream per
    thread, each part at least MIN_PART images), run at once by plain infer requests, the last part padded. On 2 cores
    it measured as fast as one LATENCY call or faster for every backbone, up to 1.8x (docs/engines.md)."""
    import openvino as ov

    streams = max(1, min(config["INFERENCE_NUM_THREADS"], batch // MIN_PART))
    part = -(-batch // streams)
    model.reshape({0: [part, *image_shape]})
    config = {**config, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": streams}
    compiled = ov.Core().compile_model(model, "CPU", config)
    requests = [compiled.create_infer_request() for _ in range(streams)]

    def forward(images):
        outputs = [np.empty((len(images), *out.get_shape()[1:]), np.float32) for out in compiled.outputs]
        starts = range(0, len(images), part)
        for round_starts in (starts[k : k + streams] for k in range(0, len(starts), streams)):
            for request, begin in zip(requests, round_starts):
                chunk = images[begin : begin + part]
                if len(chunk) < part:
                    chunk = np.concatenate([chunk, np.zeros((part - len(chunk), *chunk.shape[1:]), chunk.dtype)])
                request.start_async({0: chunk})
            for request, begin in zip(requests, round_starts):
                request.wait()
                for i, out in enumerate(outputs):
                    out[begin : begin + part] = request.get_output_tensor(i).data[: len(images) - begin]
        return outputs

    return forward


def calibration_images(images, count=CALIBRATION_IMAGES, seed=0):
    """A seeded random subset of `images` (in their order) for int8 calibration."""
    rng = np.random.default_rng(seed)
    return images[np.sort(rng.choice(len(images), min(count, len(images)), replace=False))]


def choose(extractor, sample, engine, threads=None, label="features", plain=None, precision="fp32", batch=None):
    """(forward, EngineChoice) for a pass: TensorFlow, or OpenVINO once its outputs on `sample` match
    TensorFlow's within MAX_RELATIVE (else TensorFlow, with one line saying why). plain: the same extractor
    in plain Keras layers, for OpenVINO to convert (default: extractor). precision 'int8': OpenVINO quantized on
    calibration images from `sample`; its difference from TensorFlow is recorded, never a reason to fall back. batch:
    the largest batch the pass will be given (OpenVINO then splits each across its streams; openvino_forward), and
    one such batch is then timed on both engines (EngineChoice.speeds); a clearly faster TensorFlow is named in one
    line but not switched to, so the same command always runs the same engine."""
    forward, call = tf_forward(extractor, sample)
    if engine == "tf":
        return forward, EngineChoice("tf")
    threads = threads or os.cpu_count()
    calibration = calibration_images(sample) if precision == "int8" else None
    try:
        converted = tf_forward(plain)[1] if plain is not None else call
        fast = openvino_forward(converted, sample, threads, calibration, batch)
        reference, candidate = forward(sample[:CHECK_IMAGES]), fast(sample[:CHECK_IMAGES])
    except Exception as exc:  # a conversion or compile failure costs speed, not the row
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]  # OpenVINO's reason comes last
        note = recorded("ov_failed", kind=type(exc).__name__, reason=lines[-1][:150] if lines else "")
        print(f"{label}: {note}; using TensorFlow", file=sys.stderr)
        return forward, EngineChoice("tf", note=recorded("fell_back", note=note))
    max_abs = max(float(np.abs(a - b).max()) for a, b in zip(candidate, reference))
    max_rel = max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) for a, b in zip(candidate, reference))
    if calibration is None and max_rel > MAX_RELATIVE:
        note = recorded("ov_differs", rel=max_rel, limit=MAX_RELATIVE)
        print(f"{label}: {note}; using TensorFlow", file=sys.stderr)
        return forward, EngineChoice("tf", max_abs, max_rel, recorded("fell_back", note=note))
    note = None
    if calibration is not None:
        note = recorded("int8_check", count=len(calibration), abs=max_abs, rel=max_rel)
    speeds = None
    if batch is not None:  # a feature pass: how the two compare on this machine, as evidence in the row
        speeds = compare_speeds(fast, forward, sample[:batch], precision, label)
    return fast, EngineChoice("openvino", max_abs, max_rel, note, speeds)


def compare_speeds(fast, forward, images, precision, label):
    """Both engines timed on one batch; a clearly faster TensorFlow is named in one line, with what would use it."""
    speeds = Speeds(images_per_second(fast, images), images_per_second(forward, images), len(images), precision)
    if speeds.tensorflow > SLOWER_MARGIN * speeds.openvino:
        fix = (
            "--engine tf would use it"
            if precision == "fp32"
            else f"{precision} gains nothing: drop --precision {precision}"
        )
        print(f"{label}: tensorflow ran faster here ({speeds}); {fix}", file=sys.stderr)
    return speeds


def model_forward(model, engine, threads=None, label="model"):
    """(probabilities of a batch of raw images, EngineChoice) for a whole saved model's inference (predict, the
    page): TensorFlow, or OpenVINO once it matches TensorFlow on seeded random images of the model's input shape."""
    sample = np.random.default_rng(0).integers(0, 256, (CHECK_IMAGES, *model.input_shape[1:]), dtype=np.uint8)
    forward, choice = choose(model, sample, engine, threads, label)
    return (lambda images: forward(np.asarray(images, np.uint8))[0]), choice


def auto_min_images(input_size):
    """The fewest images a feature pass at this input size needs for auto to convert it to OpenVINO."""
    return math.ceil(AUTO_MIN_IMAGES_AT_32 * (32 / input_size) ** 2)


def too_short_for_openvino(images, input_size):
    """True for a feature pass of `images` images too short to repay OpenVINO's conversion (None: not a pass)."""
    return images is not None and images < auto_min_images(input_size)


def why_tensorflow(requested, backbone_spec, input_size=None, images=None):
    """Why a pass resolved to TensorFlow before any check: the flag, OpenVINO missing, a short pass, or the
    registry's rule."""
    if requested == "tf":
        return "--engine tf"
    if not openvino_available():
        return recorded("ov_missing")
    if input_size and too_short_for_openvino(images, input_size):
        return recorded("too_short", images=images, px=input_size, needed=auto_min_images(input_size))
    return recorded("no_faster", name=backbone_spec.name if backbone_spec else "this model")


def resolve_engine(requested, backbone_spec, input_size, precision="fp32", images=None):
    """The engine to try for a backbone: 'auto' picks OpenVINO where it measured faster (the registry's
    openvino_faster sizes), it is installed and the feature pass (of `images` images, when given) is long enough to
    repay converting it; int8 always runs on OpenVINO; 'openvino' without it is a UsageError."""
    from .errors import UsageError

    if precision == "int8":
        if importlib.util.find_spec("nncf") is None:
            raise UsageError("--precision int8 needs OpenVINO and NNCF: pip install -e '.[openvino]'")
        requested = "openvino"
    if requested == "tf":
        return "tf"
    if not openvino_available():
        if requested == "openvino":
            raise UsageError("--engine openvino needs OpenVINO: pip install -e '.[openvino]'")
        return "tf"
    if requested == "openvino":
        return "openvino"
    faster = backbone_spec.openvino_faster if backbone_spec else None  # no backbone (a scratch CNN): not measured
    if too_short_for_openvino(images, input_size):
        return "tf"
    return "openvino" if faster and input_size >= faster else "tf"
