"""Property-based tests: arbitrary config files, flag values and image bytes never crash unhandled."""

import io
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from transferbench.cli import _flag_settings, build_parser
from transferbench.config import FIELDS, RunConfig, from_record, resolve
from transferbench.config_file import load_toml
from transferbench.errors import UsageError
from transferbench.image_input import ImageError, load_image

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=20),
)
values = st.one_of(
    scalars,
    st.lists(st.text(max_size=10), max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=10), max_size=3),
    st.lists(st.integers(), max_size=3),
)
keys = st.one_of(st.sampled_from([*sorted(FIELDS), "run"]), st.text(min_size=1, max_size=12))  # "run": the table


def _toml_value(value):
    """Render a value as TOML (enough of TOML for the generated values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value.encode("utf-16", "surrogatepass").decode("utf-16", "replace"), ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def _config_or_usage_error(make):
    """Call make(); it must return a valid RunConfig or raise UsageError, nothing else."""
    try:
        cfg = make()
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return None
    assert isinstance(cfg, RunConfig)
    return cfg


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_as_a_config_file(tmp_path, data):
    path = tmp_path / "any.toml"
    path.write_bytes(data)
    _config_or_usage_error(lambda: resolve(load_toml(path)))


@FUZZ
@given(st.dictionaries(keys, values, max_size=6))
def test_any_settings_in_a_valid_toml_file(tmp_path, table):
    path = tmp_path / "settings.toml"
    lines = [f"{json.dumps(key)} = {_toml_value(value)}" for key, value in table.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = _config_or_usage_error(lambda: resolve(load_toml(path)))
    if cfg is not None:
        assert cfg.epochs > 0 and 0 < cfg.val_fraction < 1 and math.isfinite(cfg.lr) and cfg.input_size >= 32


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(FIELDS)), values, max_size=6))
def test_any_recorded_config_for_resume(table):
    _config_or_usage_error(lambda: from_record(table, "RUN"))


FLAGS = ["--epochs", "--lr", "--input-size", "--val-fraction", "--train-limit", "--models", "--fine-tune", "--seed"]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(FLAGS), st.text(max_size=12)), max_size=4))
def test_any_flag_values(pairs):
    argv = ["run"] + [f"{flag}={value}" for flag, value in pairs]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse's one-line error
        assert exc.code == 2
        return
    _config_or_usage_error(lambda: resolve({}, _flag_settings(args)))


def _png(size=(12, 9), mode="L"):
    """A small valid PNG as bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.arange(size[0] * size[1], dtype=np.uint8).reshape(size[1], size[0])).convert(mode).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


def _load_or_image_error(tmp_path, data, shape):
    """load_image must give a uint8 array of shape or raise ImageError."""
    path = tmp_path / "fuzz.img"
    path.write_bytes(data)
    try:
        pixels = load_image(path, shape)
    except ImageError as exc:
        assert str(exc)
        return
    assert pixels.shape == shape and pixels.dtype == np.uint8


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([(28, 28, 1), (32, 32, 3)]))
def test_any_bytes_as_an_image(tmp_path, data, shape):
    _load_or_image_error(tmp_path, data, shape)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=8), st.booleans())
def test_damaged_png_and_jpeg(tmp_path, flips, jpeg):
    data = bytearray(_png(mode="RGB"))
    if jpeg:
        buffer = io.BytesIO()
        Image.open(io.BytesIO(bytes(data))).save(buffer, format="JPEG")
        data = bytearray(buffer.getvalue())
    for position, value in flips:
        data[position % len(data)] = value
    _load_or_image_error(tmp_path, bytes(data), (28, 28, 1))


@pytest.mark.parametrize("cut", [8, 33, 45])  # signature, header, mid-pixel data
def test_truncated_png_is_an_image_error(tmp_path, cut):
    with pytest.raises(ImageError):
        load_image(_write(tmp_path, _png()[:cut]), (28, 28, 1))


def _write(tmp_path, data):
    path = tmp_path / "cut.png"
    path.write_bytes(data)
    return path
