"""Settings from a TOML config file (`--config FILE`): keys as the RunConfig fields, at the top or under [run],
each checked as config.py declares it."""

import tomllib
from pathlib import Path

from .config import FIELDS, parse_value
from .errors import UsageError, did_you_mean


def load_toml(path):
    """Read a TOML config file into a dict of checked settings."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"--config {path} is a folder; give the path of a TOML file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"config file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from None
    if "run" in raw:
        raw = _run_table(raw, path)
    settings = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise UsageError(f"unknown config key '{key}' in {path}{did_you_mean(name, FIELDS)}")
        settings[name] = parse_value(name, value)
    return settings


def _run_table(raw, path):
    """The settings under [run]: a `run = 0` is no table, and keys beside [run] would be silently ignored."""
    table, beside = raw["run"], sorted(key for key in raw if key != "run")
    if not isinstance(table, dict):
        raise UsageError(f"config key 'run' in {path} must be a [run] table of settings, got {type(table).__name__}")
    if beside:
        raise UsageError(
            f"config file {path} has settings outside its [run] table ({', '.join(beside)}): move them under [run]"
        )
    return table
