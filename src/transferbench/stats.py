"""Statistics over a grid's seeds, as data: per model x budget x size the accuracy with a bounded 95% interval,
the paired difference with the CNN and whether it is significant, and the label-budget crossover.

Intervals: with 3 or more seeds, Student's t over the seeds (for a difference, over the paired differences: a
paired t-test), clipped to the possible range; with fewer, a Wilson interval on the pooled test predictions
(test-set noise only, so no significance is claimed: two seeds cannot tell seed-to-seed variation). A percentile
bootstrap is not used: over 3 seeds its interval is the values' range, so it called about a quarter of null
differences significant.
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

MIN_SEEDS = 3  # fewer seeds: no significance claimed
SEED_METHOD = "Student t 95% interval over seeds (paired for differences), clipped to the possible range"
POOLED_METHOD = "Wilson score interval on the pooled test predictions (fewer than 3 seeds: no significance)"


@dataclass(frozen=True)
class Estimate:
    """Mean of n values with its sample std and a 95% interval (None when it cannot be had)."""

    n: int
    mean: float
    std: float | None
    low: float | None
    high: float | None
    method: str | None = None

    @property
    def significant(self):
        """True / False when the 95% interval over >= 3 seeds excludes / includes 0; None: cannot tell."""
        if self.n < MIN_SEEDS or self.low is None:
            return None
        return bool(self.low > 0 or self.high < 0)


def _t_interval(values, low=0.0, high=1.0):
    """Student t 95% interval of the mean, clipped to [low, high] (zero width when every value is equal)."""
    values = np.asarray(values, dtype=float)
    mean, spread = float(values.mean()), float(values.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.975, len(values) - 1)) * spread / math.sqrt(len(values))
    return max(low, mean - half), min(high, mean + half)


def wilson(correct, total, z=1.959963984540054):
    """Wilson score 95% interval of a proportion: inside [0, 1] even at 0 or total successes."""
    if total == 0:
        return None, None
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def estimate(values, *, test_size=None, difference=False):
    """Mean, sample std and a bounded 95% interval of accuracies, or of paired differences of accuracies."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        raise ValueError("no values to estimate from")
    mean = sum(values) / n
    std = float(np.std(values, ddof=1)) if n > 1 else None
    if n >= MIN_SEEDS:  # an accuracy lies in [0, 1]; a difference of two in [-1, 1]
        return Estimate(n, mean, std, *_t_interval(values, low=-1.0 if difference else 0.0), SEED_METHOD)
    if test_size and not difference:
        correct = round(sum(values) * test_size)
        return Estimate(n, mean, std, *wilson(correct, n * test_size), POOLED_METHOD)
    return Estimate(n, mean, std, None, None, None)


def groups(rows, key=lambda row: row.name):
    """{(key(row), budget): {seed: test accuracy}} over the ok rows, in first-seen order."""
    out = {}
    for row in rows:
        if row.ok and row.test_accuracy is not None:
            out.setdefault((key(row), row.budget), {})[row.seed] = row.test_accuracy
    return out


def paired_difference(table, name, baseline, budget):
    """Estimate of accuracy(name) - accuracy(baseline) over the seeds both finished at this budget, or None."""
    mine, theirs = table.get((name, budget), {}), table.get((baseline, budget), {})
    common = [seed for seed in mine if seed in theirs]
    if not common:
        return None
    return estimate([mine[seed] - theirs[seed] for seed in common], difference=True)


def crossover(table, name, baseline, budgets):
    """The smallest budget from which `name` beats `baseline` significantly at that and every larger budget,
    or None (also when fewer than 3 seeds make significance unknown)."""
    found = None
    for budget in reversed(budgets):
        difference = paired_difference(table, name, baseline, budget)
        if difference is None or not (difference.significant and difference.mean > 0):
            break
        found = budget
    return found


@dataclass(frozen=True)
class GridCell:
    """One model at one label budget and input size, over the seeds (a row of grid.csv)."""

    model: str
    input_size: int
    budget: int | str
    n: int
    mean: float
    std: float | None
    low: float | None
    high: float | None
    interval: str | None
    baseline: str | None = None
    difference: float | None = None  # paired mean difference with the baseline (accuracy, 0..1 scale)
    difference_low: float | None = None
    difference_high: float | None = None
    significant: bool | None = None  # None: fewer than 3 common seeds, cannot tell


def sized(row):
    """A row's model with its input size ('cnn 32px'), the unit a grid compares."""
    return f"{row.name} {row.input_size}px"


def baseline_name(record):
    """The scratch row that transfer rows are compared with: cnn if it ran, else None."""
    return "cnn" if any(row.name == "cnn" for row in record.rows) else None


def grid_statistics(record):
    """The grid's statistics as data: {'cells': [GridCell dicts], 'crossovers': [...], 'methods': {...}}."""
    table = groups(record.rows, sized)
    base = baseline_name(record)
    test_size = record.dataset.get("sizes", {}).get("test")
    cells, models = [], list(dict.fromkeys(name for name, _ in table))
    for model in models:
        name, size = model.rsplit(" ", 1)
        against = f"{base} {size}" if base else None
        for budget in record.grid["budgets"]:
            if (model, budget) not in table:
                continue
            accuracy = estimate(list(table[model, budget].values()), test_size=test_size)
            cell = GridCell(
                name,
                int(size[:-2]),
                budget,
                accuracy.n,
                accuracy.mean,
                accuracy.std,
                accuracy.low,
                accuracy.high,
                accuracy.method,
            )
            difference = paired_difference(table, model, against, budget) if base and name != base else None
            if difference is not None:
                cell = dataclasses.replace(
                    cell,
                    baseline=base,
                    difference=difference.mean,
                    difference_low=difference.low,
                    difference_high=difference.high,
                    significant=difference.significant,
                )
            cells.append(cell)
    crossovers = [
        {
            "model": model,
            "baseline": base,
            "from_budget": crossover(table, model, f"{base} {model.rsplit(' ', 1)[1]}", record.grid["budgets"]),
        }
        for model in models
        if base and model.rsplit(" ", 1)[0] != base and len(record.grid["budgets"]) > 1  # one budget: no curve
    ]
    return {
        "cells": [dataclasses.asdict(cell) for cell in cells],
        "crossovers": crossovers,
        "methods": {"seeds >= 3": SEED_METHOD, "seeds < 3": POOLED_METHOD, "differences": SEED_METHOD},
        "can_tell_significance": len(record.grid["seeds"]) >= MIN_SEEDS,
    }
