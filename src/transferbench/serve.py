"""`transferbench serve RUN_DIR`: a local page to draw or upload a digit and ask every model of a run.

Models are loaded once; each answers with its top 3 and the image it saw (the model's input convention applied);
for a chosen model, the feature maps of a chosen layer and an occlusion heat map of its answer. Uploads are
bounded in bytes and pixels; a bad one is a message on the page, never a stopped server. Localhost by default.
"""

import base64
import io
import threading
from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np
from PIL import Image

from .errors import UsageError

MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_UPLOAD_PIXELS = 12_000_000
MAX_CHANNELS_SHOWN = 16


class PageTemplate(Template):
    """serve_page.html's placeholders are @@name: its JavaScript uses ${...} itself."""

    delimiter = "@@"


class BadUpload(ValueError):
    """An upload the page reports to the user (too large, not an image, no ink...)."""


def png_base64(pixels, scale=1):
    """A uint8 image (H x W, H x W x 1 or x 3) as a base64 PNG, enlarged `scale` times (nearest)."""
    pixels = pixels.squeeze(-1) if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels
    image = Image.fromarray(pixels)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _colour(values):
    """Values scaled to 0..1 as viridis RGB uint8."""
    from matplotlib import colormaps

    span = float(values.max() - values.min())
    unit = (values - values.min()) / span if span > 0 else np.zeros_like(values)
    return (colormaps["viridis"](unit)[..., :3] * 255).astype(np.uint8)


def feature_map_tiles(activation, limit=MAX_CHANNELS_SHOWN):
    """The first `limit` channels of one H x W x C activation as a tiled RGB image (4 per row, 1 px gaps)."""
    channels = min(limit, activation.shape[-1])
    columns = min(4, channels)
    rows = -(-channels // columns)
    height, width = activation.shape[:2]
    scale = max(1, 48 // max(height, width))
    tile_h, tile_w = height * scale, width * scale
    sheet = np.full((rows * (tile_h + 2), columns * (tile_w + 2), 3), 255, np.uint8)
    for c in range(channels):
        tile = np.kron(_colour(activation[..., c]), np.ones((scale, scale, 1), np.uint8))
        r, q = divmod(c, columns)
        sheet[r * (tile_h + 2) : r * (tile_h + 2) + tile_h, q * (tile_w + 2) : q * (tile_w + 2) + tile_w] = tile
    return sheet


def occlusion_map(predict, image, label):
    """How much hiding each region lowers the probability of `label` (one batch of patched copies).

    predict: images -> probabilities. Patches of about 1/7 of the side, at half-patch strides, are set to the
    image's darkest value (the background of a light-on-dark digit)."""
    height, width = image.shape[:2]
    patch = max(2, min(height, width) // 7)
    stride = max(1, patch // 2)
    corners = [(y, x) for y in range(0, height - patch + 1, stride) for x in range(0, width - patch + 1, stride)]
    batch = np.repeat(image[None], len(corners), axis=0)
    for i, (y, x) in enumerate(corners):
        batch[i, y : y + patch, x : x + patch] = image.min()
    base = float(predict(image[None])[0, label])
    drops = base - predict(batch)[:, label]
    heat, counts = np.zeros((height, width)), np.zeros((height, width))
    for (y, x), drop in zip(corners, drops):
        heat[y : y + patch, x : x + patch] += drop
        counts[y : y + patch, x : x + patch] += 1
    return heat / np.maximum(counts, 1)


def heat_overlay(image, heat):
    """The heat map over the image: grey image, red where hiding the region lowers the answer."""
    grey = image.squeeze(-1) if image.shape[-1] == 1 else image.mean(axis=-1)
    grey = np.stack([grey] * 3, axis=-1).astype(np.float32) * 0.6
    strength = np.clip(heat / max(float(heat.max()), 1e-6), 0, 1)[..., None]
    red = np.array([255, 40, 40], np.float32)
    return (grey * (1 - strength) + red * strength).clip(0, 255).astype(np.uint8)


@dataclass
class LoadedModel:
    """One ok row's model, loaded once, with a lock so concurrent requests never share a call."""

    row: object  # RowResult
    model: object
    layers: list
    lock: threading.Lock
    forward: object  # raw images -> probabilities, on the engine chosen for this model
    engine: str

    def probabilities(self, images):
        """Softmax outputs for a batch of raw images."""
        with self.lock:
            return np.asarray(self.forward(images))


def _inference(model, row, engine):
    """(images -> probabilities, engine name) for a served model: OpenVINO where `engine` and the backbone's
    measured speeds say so and it passes the check against TensorFlow, else TensorFlow's call."""
    from .backbones import BACKBONES
    from .engines import model_forward, resolve_engine

    spec = BACKBONES.get(row.backbone) if row.backbone else None
    wanted = resolve_engine(engine, spec, row.input_size)
    if wanted == "tf":
        return (lambda images: model(images, training=False)), "tf"
    forward, choice = model_forward(model, wanted, label=row.id)
    return forward, choice.engine


class ModelBook:
    """Every ok model of a run folder, its class names and input convention."""

    def __init__(self, run_dir, record, engine="auto"):
        from .api import load_model, run_facts
        from .modeling import conv_layer_names

        self.run_dir = Path(run_dir)
        self.models = {}
        for row in record.ok_rows:
            path = self.run_dir / "models" / f"{row.id}.keras"
            if path.is_file():
                model = load_model(path)
                forward, used = _inference(model, row, engine)
                self.models[row.id] = LoadedModel(row, model, conv_layer_names(model), threading.Lock(), forward, used)
        if not self.models:
            raise UsageError(f"{run_dir} has no finished model to serve (no ok row with a models/ file)")
        first = next(iter(self.models.values()))
        model_file = self.run_dir / "models" / f"{first.row.id}.keras"
        self.class_names, self.convention = run_facts(model_file, first.model.output_shape[-1])

    def seen(self, data, loaded):
        """The image a model sees for an upload, or BadUpload with the reason."""
        from .image_input import ImageError, load_image

        try:
            return load_image(data, tuple(loaded.model.input_shape[1:]), self.convention, True, MAX_UPLOAD_PIXELS)
        except ImageError as exc:
            raise BadUpload(str(exc)) from None

    def answer(self, data):
        """Every model's top 3 and the image it saw."""
        from .image_input import top_classes

        answers, seen = [], {}  # the upload normalised once per input shape
        for model_id, loaded in self.models.items():
            shape = tuple(loaded.model.input_shape[1:])
            if shape not in seen:
                seen[shape] = self.seen(data, loaded)
            pixels = seen[shape]
            top = top_classes(loaded.probabilities(pixels[None])[0], self.class_names)
            answers.append(
                {
                    "id": model_id,
                    "phase": loaded.row.phase,
                    "engine": loaded.engine,
                    "top": [{"class": name, "probability": p} for name, p in top],
                    "seen": png_base64(pixels, scale=max(1, 112 // pixels.shape[0])),
                }
            )
        return answers

    def explain(self, data, model_id, layer):
        """Feature maps of `layer` and the occlusion heat map of the model's answer for an upload."""
        from .modeling import conv_activations

        loaded = self.models.get(model_id)
        if loaded is None:
            raise BadUpload(f"unknown model {model_id!r}")
        if layer not in loaded.layers:
            raise BadUpload(f"{model_id} has no convolution layer {layer!r}")
        pixels = self.seen(data, loaded)
        with loaded.lock:
            activation = np.asarray(conv_activations(loaded.model, [layer])(pixels[None], training=False))[0]
        label = int(loaded.probabilities(pixels[None])[0].argmax())
        heat = occlusion_map(loaded.probabilities, pixels, label)
        scale = max(1, 168 // pixels.shape[0])
        return {
            "layer": layer,
            "shape": list(activation.shape),
            "feature_maps": png_base64(feature_map_tiles(activation)),
            "heatmap": png_base64(heat_overlay(pixels, heat), scale=scale),
            "answer": self.class_names[label],
        }


async def read_bounded(request):
    """The request body, or BadUpload when it is over MAX_UPLOAD_BYTES (checked before and while reading)."""
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise BadUpload(f"the upload is {int(declared):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise BadUpload(f"the upload is over the {MAX_UPLOAD_BYTES:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def page_subject(book, shown=6):
    """What the page asks people to draw: a digit for a digit run, else one of the run's classes (the first few)."""
    if book.convention == "digit":
        return "a digit"
    names = book.class_names[:shown] + (["…"] if len(book.class_names) > shown else [])
    return f"one of its classes ({', '.join(names)})"


def page_html(book, run_name):
    """The page's HTML for this run, its names escaped (a folder may be called anything)."""
    page = PageTemplate(resources.files("transferbench").joinpath("serve_page.html").read_text(encoding="utf-8"))
    size = f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
    return page.safe_substitute(run=escape(run_name), max_bytes=size, subject=escape(page_subject(book)))


def make_app(book, run_name):
    """The Starlette application of the page."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
    from starlette.routing import Route

    html = page_html(book, run_name)

    async def index(request):
        return HTMLResponse(html)

    async def models(request):
        listed = [
            {"id": k, "phase": m.row.phase, "engine": m.engine, "layers": m.layers} for k, m in book.models.items()
        ]
        return JSONResponse({"models": listed, "convention": book.convention, "classes": book.class_names})

    async def predict(request):
        try:
            data = await read_bounded(request)
            return JSONResponse({"models": await run_in_threadpool(book.answer, data)})
        except BadUpload as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def explain(request):
        try:
            data = await read_bounded(request)
            model_id, layer = request.query_params.get("model", ""), request.query_params.get("layer", "")
            return JSONResponse(await run_in_threadpool(book.explain, data, model_id, layer))
        except BadUpload as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def report(request):
        path = book.run_dir / "report.html"
        if not path.is_file():
            return PlainTextResponse(f"no report yet: run `transferbench report {book.run_dir}`", status_code=404)
        return FileResponse(path)

    routes = [
        Route("/", index),
        Route("/api/models", models),
        Route("/api/predict", predict, methods=["POST"]),
        Route("/api/explain", explain, methods=["POST"]),
        Route("/report", report),
    ]
    return Starlette(routes=routes)


def _check_free(host, port):
    """UsageError when the address cannot be bound (port in use, host not local), before models are loaded."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port or --host") from None


def serve(run_dir, host="127.0.0.1", port=8000, engine="auto"):
    """Load the run's models and serve the page until Ctrl-C."""
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise UsageError("serve needs the [serve] extra: pip install -e '.[serve]' (starlette, uvicorn)") from None
    from .results import load_results

    record = load_results(run_dir)
    if not 0 < port < 65536:
        raise UsageError(
            f"--port must be 1..65535, got {port}"
        )  # a bad folder is said before the port is tried or a model loaded
    _check_free(host, port)
    book = ModelBook(run_dir, record, engine)
    engines = ", ".join(f"{model_id} {loaded.engine}" for model_id, loaded in book.models.items())
    print(f"loaded {len(book.models)} models of {run_dir} ({book.convention} input convention; {engines})", flush=True)
    print(f"serving http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    uvicorn.run(make_app(book, Path(run_dir).name), host=host, port=port, log_level="warning")
