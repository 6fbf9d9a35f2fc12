"""Statistics over repeated seeds: mean, std, 95% t-intervals, paired differences, the label-budget crossover."""

import math
from dataclasses import dataclass

from scipy import stats as scipy_stats


@dataclass(frozen=True)
class Estimate:
    """Mean of n values with its sample std and 95% confidence interval (None when n < 2)."""

    n: int
    mean: float
    std: float | None
    low: float | None
    high: float | None

    @property
    def significant(self):
        """True when the 95% interval excludes 0 (for differences)."""
        return self.low is not None and (self.low > 0 or self.high < 0)


def estimate(values):
    """Mean, sample std and two-sided 95% t-interval of the values."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        raise ValueError("no values to estimate from")
    mean = sum(values) / n
    if n < 2:
        return Estimate(n, mean, None, None, None)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = scipy_stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)
    return Estimate(n, mean, std, mean - half, mean + half)


def _ok(rows):
    """Rows that finished with a test accuracy."""
    return [row for row in rows if row.get("status") == "ok" and row.get("test_accuracy") is not None]


def groups(rows):
    """{(name, budget): {seed: test accuracy}} over the ok rows, in first-seen order."""
    out = {}
    for row in _ok(rows):
        out.setdefault((row["name"], row.get("budget", "all")), {})[row.get("seed")] = row["test_accuracy"]
    return out


def paired_difference(rows, name, baseline, budget):
    """Estimate of accuracy(name) - accuracy(baseline) over the seeds both finished at this budget, or None."""
    table = groups(rows)
    mine, theirs = table.get((name, budget), {}), table.get((baseline, budget), {})
    common = [seed for seed in mine if seed in theirs]
    if not common:
        return None
    return estimate([mine[seed] - theirs[seed] for seed in common])


def crossover(rows, name, baseline, budgets):
    """The smallest budget from which `name` beats `baseline` significantly at that and every larger budget.

    Returns None when there is no such budget (or when fewer than 2 seeds make significance undefined).
    """
    found = None
    for budget in reversed(budgets):
        difference = paired_difference(rows, name, baseline, budget)
        if difference is None or not (difference.significant and difference.mean > 0):
            break
        found = budget
    return found
