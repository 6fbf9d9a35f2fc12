"""The answer a report opens with: the best row and its margin, whether transfer beats the CNN and from how many
labels, at what cost, and what the run cannot say; plus the facts line under the title."""

from .records import FLAT_FEATURES
from .stats import MIN_SEEDS, baseline_name


def _cell_of(record, row):
    """The statistics cell of a row's model, budget and size, or None."""
    cells = (record.statistics or {}).get("cells", [])
    return next(
        (c for c in cells if (c["model"], c["budget"], c["input_size"]) == (row.name, row.budget, row.input_size)),
        None,
    )


def _same_cell(record, best):
    """The ok rows of the best row's grid cell (same budget, seed and size), best first."""
    rows = [r for r in record.ok_rows if (r.budget, r.seed, r.input_size) == (best.budget, best.seed, best.input_size)]
    return sorted(rows, key=lambda r: -r.test_accuracy)


def verdict(record, t):
    """The verdict paragraph as a list of sentences in the translator's language."""
    best = record.best
    if best is None:
        return [t("v_nothing")]
    sentences = []
    seeds = len(record.grid["seeds"])
    cell = _cell_of(record, best) if record.is_grid else None
    accuracy = cell["mean"] if cell and cell["n"] > 1 else best.test_accuracy
    sentences.append(
        t("v_best", model=best.name, acc=accuracy * 100, seconds=best.train_seconds, params=best.trainable_params)
    )
    rivals = _same_cell(record, best)[1:]
    if rivals:
        runner = rivals[0]
        sentences.append(t("v_margin", points=(best.test_accuracy - runner.test_accuracy) * 100, other=runner.name))
    base = baseline_name(record)
    if base and best.name != base:
        sentences.append(_against_baseline(record, best, base, cell, t))
    elif base:
        sentences.append(t("v_cnn_wins"))
    crossovers = [c for c in (record.statistics or {}).get("crossovers", []) if c["from_budget"] is not None]
    for item in crossovers:
        sentences.append(t("v_crossover", model=item["model"], budget=item["from_budget"], base=item["baseline"]))
    sentences += _limits(record, seeds, t)
    return sentences


def _against_baseline(record, best, base, cell, t):
    """Whether the best row beats the CNN, significantly or not, or that this run cannot tell."""
    cnn = next(
        (
            r
            for r in record.ok_rows
            if r.name == base and (r.budget, r.seed, r.input_size) == (best.budget, best.seed, best.input_size)
        ),
        None,
    )
    if cnn is None:
        return t("v_no_cnn", base=base)
    points = (best.test_accuracy - cnn.test_accuracy) * 100
    if cell is None or cell["significant"] is None:
        return t("v_vs_cnn_unknown", points=points, base=base)
    if cell["significant"]:
        return t("v_vs_cnn_significant", points=cell["difference"] * 100, base=base)
    return t("v_vs_cnn_not_significant", points=cell["difference"] * 100, base=base)


def _flat(row):
    """Whether this row's backbone gave pooled features that are all but zero."""
    return row.feature_max is not None and row.feature_max < FLAT_FEATURES


def _limits(record, seeds, t):
    """What the run cannot say."""
    notes = []
    if seeds < MIN_SEEDS:
        notes.append(t("v_few_seeds", n=seeds, min=MIN_SEEDS))
    weights = {row.weights for row in record.ok_rows if row.phase != "scratch"}
    if "random" in weights:
        notes.append(t("v_random"))
    flat = [r for r in record.ok_rows if r.phase in ("frozen", "probe") and _flat(r)]
    if flat:
        names = ", ".join(dict.fromkeys(r.name for r in flat))
        notes.append(t("v_flat", models=names, largest=max(r.feature_max for r in flat)))
    if record.config.get("recipe") == "course":
        notes.append(t("v_course"))
    if not record.finished:
        notes.append(t("v_unfinished"))
    return notes


def facts(record, t):
    """Dataset, sizes, input size, weights, recipe and date, for the line under the title."""
    sizes = record.dataset.get("sizes", {})
    return t(
        "v_facts",
        dataset=record.config.get("dataset"),
        pool=sizes.get("pool", "?"),
        test=sizes.get("test", "?"),
        px=", ".join(str(s) for s in record.grid.get("input_sizes", [])),
        weights=record.config.get("weights"),
        recipe=record.config.get("recipe"),
        date=(record.started or "?")[:16].replace("T", " "),
    )
