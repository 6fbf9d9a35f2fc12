"""The report's languages: every key in each, and the English notes a run records shown in the report's language."""

import dataclasses
import re
from string import Formatter
from types import SimpleNamespace

from transferbench.config import RunConfig
from transferbench.i18n import RECORDED, STRINGS, recorded, translator
from transferbench.recipes import describe, described_in

SAMPLE = {"images": 3000, "px": 32, "needed": 25000, "count": 300, "abs": 4.2e-5, "rel": 1.8e-6, "limit": 1e-4}
SAMPLE.update(fast=1289.4, tf=941.2, ratio=1.37)  # images/s


def _fields(template):
    return sorted(field for _, field, _, _ in Formatter().parse(template) if field)


def test_every_language_has_every_key_with_the_same_fields():
    english, spanish = STRINGS["en"], STRINGS["es"]
    assert set(english) == set(spanish)
    assert [key for key in english if _fields(english[key]) != _fields(spanish[key])] == []
    assert [key for key, (en, es) in RECORDED.items() if _fields(en) != _fields(es)] == []


def test_a_recorded_note_reads_in_spanish_with_its_values_as_recorded():
    es = translator("es")
    for key, (english, _) in RECORDED.items():
        values = {field: SAMPLE.get(field, f"<{field}>") for field in _fields(english)}
        note = recorded(key, **values)
        shown = es.recorded(note)
        assert shown != note and translator("en").recorded(note) == note, key
        numbers = re.findall(r"\d[\d,.e+-]*", note)
        assert [n for n in numbers if n not in shown] == [], key  # 3,000 stays 3,000: the report's number style
    failed = recorded("fell_back", note=recorded("ov_failed", kind="RuntimeError", reason="Exception from (x); y"))
    assert es.recorded(failed) == "openvino falló (RuntimeError: Exception from (x); y); se volvió a tf"
    assert es.recorded("--engine tf") == "--engine tf"  # a flag, and any note an older version wrote, as recorded


def test_the_recipe_line_is_translated_only_where_this_version_says_the_same():
    cfg = RunConfig(recipe="course", epochs=1, fine_tune_epochs=2)
    run = SimpleNamespace(config=dataclasses.asdict(cfg), recipe=describe(cfg))
    es = translator("es")
    assert described_in(run, es) == "course: cabezas con Adam 0.0001 <= 1 época, CNN con Adam 0.001, paciencia 3; " + (
        "ajuste fino con Adam 1e-05 durante 2 épocas"
    )
    assert described_in(run, translator("en")) == run.recipe
    older = SimpleNamespace(config=dataclasses.asdict(RunConfig()), recipe="fair: heads try Adam 0.0001 for <= 100")
    assert described_in(older, es) == older.recipe  # another version's recipe: its own words, not this version's
    unknown = SimpleNamespace(config={"recipe": "fair", "no_such_setting": 1}, recipe="fair: ...")
    assert described_in(unknown, es) == "fair: ..."
