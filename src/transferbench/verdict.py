"""The answer a report opens with: the best row and its margin, whether transfer beats the CNN and from how many
labels, at what cost, and what the run cannot say; plus the facts line under the title."""

from dataclasses import dataclass
from statistics import fmean

from . import recipes
from .records import all_but_zero
from .stats import MIN_SEEDS, Estimate, baseline_name, groups, paired_difference, sized

SMALL_TEST_SET = 100  # test images below which one image is more than a point of accuracy
GUESSING = 1.5  # a row under this multiple of chance accuracy (1 / classes) has learned next to nothing


@dataclass(frozen=True)
class Leader:
    """The model the answer names: a row of it, its accuracy (the mean over seeds in a grid with several), its
    training seconds (likewise) and the strongest other model at the same budget and size, if any."""

    row: object
    accuracy: float
    seconds: float
    cell: dict | None = None
    runner: str | None = None
    runner_accuracy: float | None = None
    lead: Estimate | None = None  # the paired lead over the runner across their common seeds


def _cell_of(record, row):
    """The statistics cell of a row's model, budget and size, or None."""
    cells = (record.statistics or {}).get("cells", [])
    return next(
        (c for c in cells if (c["model"], c["budget"], c["input_size"]) == (row.name, row.budget, row.input_size)),
        None,
    )


def seed_cells(record):
    """The grid's cells over several seeds (a grid compares their means), or []."""
    return [c for c in (record.statistics or {}).get("cells", []) if c["n"] > 1]


def leader(record):
    """Over several seeds, the cell with the best mean (one lucky seed does not make a model best), against the
    best other mean at its budget and size; otherwise the best row, against the best other row of its cell."""
    cells = seed_cells(record)
    if not cells:
        best = record.best
        rivals = [
            r
            for r in record.ok_rows
            if (r.budget, r.seed, r.input_size) == (best.budget, best.seed, best.input_size) and r is not best
        ]
        runner = max(rivals, key=lambda r: r.test_accuracy, default=None)
        return Leader(
            best,
            best.test_accuracy,
            best.train_seconds,
            _cell_of(record, best),
            runner and runner.name,
            runner and runner.test_accuracy,
        )
    top = max(cells, key=lambda c: c["mean"])
    where = (top["budget"], top["input_size"])
    rows = [r for r in record.ok_rows if (r.name, r.budget, r.input_size) == (top["model"], *where)]
    rivals = [c for c in cells if (c["budget"], c["input_size"]) == where and c is not top]
    runner = max(rivals, key=lambda c: c["mean"], default=None)
    lead = None
    if runner:
        size = f"{top['input_size']}px"
        lead = paired_difference(
            groups(record.rows, sized), f"{top['model']} {size}", f"{runner['model']} {size}", where[0]
        )
    return Leader(
        max(rows, key=lambda r: r.test_accuracy),
        top["mean"],
        fmean(r.train_seconds for r in rows),
        top,
        runner and runner["model"],
        runner and runner["mean"],
        lead,
    )


def _classes(record):
    """The dataset's number of classes, or None where the record lacks them (then there is no chance level)."""
    return len(record.dataset.get("class_names") or []) or None


def chance(record):
    """Chance accuracy (1 / classes) when even the leader is under GUESSING times it, else None: then no model
    learned, and comparing them says nothing about transfer."""
    classes = _classes(record)
    if record.best is None or not classes or classes < 2:
        return None
    return 1 / classes if leader(record).accuracy < GUESSING / classes else None


def verdict(record, t):
    """The verdict paragraph as a list of sentences in the translator's language."""
    if record.best is None:
        return [t("v_nothing")]
    seeds = len(record.grid["seeds"])
    top = leader(record)
    best = top.row
    params = best.trainable_params
    model = best.name + _where(record, best, t)
    sentences = [t("v_best", model=model, acc=top.accuracy * 100, seconds=top.seconds, params=params)]
    near = chance(record)
    if near:
        sentences.append(t("v_near_chance", chance=near * 100, classes=round(1 / near)))
    if top.runner:
        points = (top.accuracy - top.runner_accuracy) * 100
        tied = round(points, 2) == 0  # equal as printed: "leads by 0.00 points" would name a winner there is not
        sentences.append(t("v_tie", other=top.runner) if tied else _margin(top, points, t))
    base = baseline_name(record)
    cell = top.cell if record.is_grid else None
    transfer = [row for row in record.rows if row.phase != "scratch"]
    if base and transfer and not any(row.ok for row in transfer):
        sentences.append(t("v_no_transfer", count=len(transfer)))
    elif base and best.phase != "scratch":
        against = _against_baseline(record, best, base, cell, t, who=t("v_transfer"))
        sentences += [] if against in sentences else [against]  # a tie with the CNN, already said
    elif base and best.name == base and transfer:
        sentences.append(t("v_cnn_wins"))
    elif base and best.name != base:  # another scratch model (cnn_modern) leads: that is no win for transfer
        sentences += [t("v_scratch_wins", model=best.name)] if transfer else []
        sentences.append(_against_baseline(record, best, base, cell, t, who=best.name))
    elif not base and len(transfer) == len(record.rows):  # the tool's question needs a scratch row to answer
        sentences.append(t("v_no_scratch"))
    crossovers = [c for c in (record.statistics or {}).get("crossovers", []) if c["from_budget"] is not None]
    for item in crossovers:
        key = "v_crossover_all" if item["from_budget"] == "all" else "v_crossover"
        sentences.append(t(key, model=item["model"], budget=item["from_budget"], base=item["baseline"]))
    sentences += _limits(record, seeds, t)
    return sentences


def _margin(top, points, t):
    """The lead over the runner-up; over 3 or more common seeds, with its paired interval and whether it is
    significant, since "which backbone" is the tool's question too."""
    lead = top.lead
    if lead is None or lead.significant is None:
        return t("v_margin", points=points, other=top.runner)
    key = "v_margin_significant" if lead.significant else "v_margin_not_significant"
    return t(key, points=lead.mean * 100, other=top.runner, n=lead.n, low=lead.low * 100, high=lead.high * 100)


def _against_baseline(record, best, base, cell, t, who):
    """Whether the best row beats the CNN, significantly or not, or that this run cannot tell (who: the subject of a
    significant win, "Transfer" or a scratch model's name)."""
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
    if cell is None or cell["significant"] is None:  # over 2 seeds, still the paired mean difference of the grid
        paired = cell is not None and cell["n"] > 1 and cell["difference"] is not None
        points = cell["difference"] * 100 if paired else (best.test_accuracy - cnn.test_accuracy) * 100
        return t("v_tie", other=base) if round(points, 2) == 0 else t("v_vs_cnn_unknown", points=points, base=base)
    interval = {"points": cell["difference"] * 100, "low": cell["difference_low"] * 100}
    interval["high"] = cell["difference_high"] * 100
    if cell["significant"]:
        return t("v_vs_cnn_significant", who=who, base=base, **interval)
    return t("v_vs_cnn_not_significant", base=base, **interval)


def _limits(record, seeds, t):
    """What the run cannot say."""
    notes = []
    if seeds < MIN_SEEDS:
        notes.append(t("v_few_seeds", n=seeds, min=MIN_SEEDS))
    test_images = record.dataset.get("sizes", {}).get("test")
    if test_images and test_images < SMALL_TEST_SET:
        notes.append(t("v_small_test", n=test_images, step=100 / test_images))
    weights = {row.weights for row in record.ok_rows if row.phase != "scratch"}
    if "random" in weights:
        notes.append(t("v_random"))
    flat = [r for r in record.ok_rows if r.phase in ("frozen", "probe") and all_but_zero(r.feature_max)]
    classes = _classes(record)
    learned = [r for r in flat if classes and r.test_accuracy >= GUESSING / classes]
    guessed = [r for r in flat if r not in learned]
    for key, rows, others in (("v_flat", guessed, learned), ("v_flat_learned", learned, guessed)):
        if rows:
            names = ", ".join(dict.fromkeys(_flat_label(record, r, rows, others, t) for r in rows))
            notes.append(t(key, models=names, largest=max(r.feature_max for r in rows)))
    if record.config.get("recipe") == "course":
        notes.append(t("v_course", lr=record.config["lr"], epochs=record.config["epochs"]))
    if record.config.get("recipe") == "fast":
        notes.append(t("v_fast", epochs=recipes.FAST_HEAD_EPOCHS))
    if not record.finished:
        notes.append(t("v_unfinished"))
    return notes


def _where(record, row, t):
    """ " at 64 px, with 1,000 labelled images": the row's place in a grid of several sizes or budgets, else ""."""
    grid = record.grid or {}
    where = ""
    if len(grid.get("input_sizes", [])) > 1:
        where += t("v_at_px", px=row.input_size)
    if len(grid.get("budgets", [])) > 1:
        where += t("v_with_all") if row.budget == "all" else t("v_with_budget", budget=row.budget)
    return where


def _flat_label(record, row, side, others, t):
    """A flat-features row's model name; where the same model falls on the other side too (one size's or seed's
    features separate the classes, another's do not), with its place in the grid and then its seeds."""
    if row.name not in {r.name for r in others}:
        return row.name
    label = row.name + _where(record, row, t)
    if label not in {r.name + _where(record, r, t) for r in others}:
        return label
    seeds = [str(r.seed) for r in side if r.name + _where(record, r, t) == label]
    return t("v_seed_of" if len(seeds) == 1 else "v_seeds_of", label=label, seeds=", ".join(seeds))


def facts(record, t):
    """Dataset, sizes, input size, weights, recipe and date, for the line under the title."""
    sizes = record.dataset.get("sizes", {})
    return t(
        "v_facts",
        dataset=record.config.get("dataset"),
        pool=_count(sizes.get("pool")),
        test=_count(sizes.get("test")),
        px=", ".join(str(s) for s in record.grid.get("input_sizes", [])),
        weights=record.config.get("weights"),
        recipe=record.config.get("recipe"),
        date=(record.started or "?")[:16].replace("T", " "),
    )


def _count(number):
    """A count with thousands separators, or '?' where the record lacks it (a hand-made or partial record)."""
    return "?" if number is None else f"{number:,}"
