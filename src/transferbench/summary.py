"""The end-of-run summary printed to the terminal: the table, the best row, costs, and the grid's statistics."""

from .i18n import translator
from .stats import MIN_SEEDS, baseline_name
from .verdict import chance, leader, seed_cells


def _clip(text, width):
    """text in at most `width` characters, an ellipsis marking a cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def comparison_lines(record):
    """Table lines: model, weights, accuracy %, loss, total / trainable params, seconds, status. Row ids are never
    cut (a grid's ids differ only at their end: '-s42', '-s43'); long weights labels (a file's name) are."""
    width = max([24, *(len(row.id) for row in record.rows)])
    header = (
        f"{'model':<{width}} {'weights':<22} {'acc %':>7} {'loss':>7} {'total params':>13} {'trainable':>11} "
        f"{'time':>8}  status"
    )
    lines = [header, "-" * len(header)]
    for row in record.rows:
        start = f"{row.id:<{width}} {_clip(row.weights or '-', 22):<22}"
        if row.ok:
            lines.append(
                f"{start} {row.test_accuracy * 100:>7.2f} {row.test_loss:>7.4f} "
                f"{row.total_params:>13,} {row.trainable_params:>11,} {row.train_seconds:>7.1f}s  ok"
            )
        else:
            lines.append(f"{start} {'-':>7} {'-':>7} {'-':>13} {'-':>11} {'-':>8}  {row.status}")
    return lines


TIME_PARTS = {
    "frozen": "time_heads",
    "probe": "time_heads",
    "fine_tuned": "time_fine_tuning",
    "scratch": "time_scratch",
}


def time_split(rows):
    """Seconds spent on feature extraction, heads, fine-tuning and scratch models (train + evaluate), keyed by the
    parts' names in i18n.STRINGS; parts that took no time are left out."""
    split = dict.fromkeys(("time_extraction", "time_heads", "time_fine_tuning", "time_scratch"), 0.0)
    for row in rows:
        features = row.feature_seconds or 0.0
        split["time_extraction"] += features
        split[TIME_PARTS[row.phase]] += row.train_seconds - features + (row.evaluate_seconds or 0.0)
    return {name: seconds for name, seconds in split.items() if seconds > 0}


def time_split_text(rows, t, unit=" s"):
    """'feature extraction 250.4 s, heads (frozen rows) 235.1 s, ...' in t's language; '' when nothing took time."""
    return ", ".join(f"{t(part)} {seconds:.1f}{unit}" for part, seconds in time_split(rows).items())


def _percent(value):
    """A 0..1 value in percent, or '-'."""
    return "-" if value is None else f"{value * 100:.2f}"


def grid_lines(record):
    """Per model, input size and label budget: accuracy mean ± std [95% interval] over seeds and the paired
    difference with the cnn row; then where each transfer row starts to win (from record.statistics)."""
    grid, statistics = record.grid, record.statistics
    width = max([22, *(len(cell["model"]) for cell in statistics["cells"])])
    against = " vs cnn (paired, points)" if baseline_name(record) else ""  # no column that must stay empty
    lines = [
        f"over seeds {grid['seeds']}, label budgets {grid['budgets']}, input sizes {grid['input_sizes']}: "
        "test accuracy %, mean ± std [95% interval]",
        f"{'model':<{width}} {'px':>4} {'budget':>7} {'n':>2}  {'accuracy':<30}{against}".rstrip(),
    ]
    for cell in statistics["cells"]:
        spread = "" if cell["std"] is None else f" ± {cell['std'] * 100:.2f}"
        interval = "" if cell["low"] is None else f" [{_percent(cell['low'])}, {_percent(cell['high'])}]"
        text = f"{cell['model']:<{width}} {cell['input_size']:>4} {cell['budget']!s:>7} {cell['n']:>2}  "
        text += f"{_percent(cell['mean']) + spread + interval:<30}"
        if cell["difference"] is not None:
            text += f" {cell['difference'] * 100:+.2f}"
            if cell["significant"] is None:
                text += " (cannot tell: fewer than 3 seeds)"
            else:
                text += f" [{cell['difference_low'] * 100:+.2f}, {cell['difference_high'] * 100:+.2f}] "
                text += "significant" if cell["significant"] else "not significant"
        lines.append(text.rstrip())
    if not against:
        lines.append("vs cnn: this run has no cnn row (add cnn to --models to compare with training from scratch)")
    for item in statistics["crossovers"]:
        if not statistics["can_tell_significance"]:
            lines.append(f"crossover: {item['model']} vs {item['baseline']}: needs --seeds {MIN_SEEDS} or more")
        elif item["from_budget"] == "all":
            lines.append(f"crossover: {item['model']} beats {item['baseline']} significantly with all labelled images")
        elif item["from_budget"] is not None:
            lines.append(
                f"crossover: {item['model']} beats {item['baseline']} significantly from {item['from_budget']} "
                "labelled images on"
            )
        else:
            lines.append(f"crossover: none for {item['model']}: it does not beat {item['baseline']} significantly")
    methods = statistics["methods"]
    lines.append(f"intervals: {methods['seeds >= 3' if statistics['can_tell_significance'] else 'seeds < 3']}")
    return lines


def best_line(record):
    """The best model as the report's answer names it: over several seeds, the best mean, with the best single row."""
    top, best = leader(record), record.best
    if top.cell is None or top.cell["n"] < 2:
        return f"best model: {best.id} ({best.test_accuracy * 100:.2f}% test accuracy)"
    cell = top.cell
    where = f"{cell['budget']} labels, {cell['input_size']} px"
    return (
        f"best model: {cell['model']} at {where}, {top.accuracy * 100:.2f}% mean test accuracy over {cell['n']} seeds "
        f"(best single row {best.id}, {best.test_accuracy * 100:.2f}%)"
    )


def _params_per_point(record):
    """(label, trainable params, accuracy) per row, or per grid cell over seeds: a grid lists each model once per
    budget and size, not once per seed."""
    cells = seed_cells(record)
    if not cells:
        return [(row.id, row.trainable_params, row.test_accuracy) for row in record.ok_rows]
    lines = []
    for cell in cells:
        where = (cell["model"], cell["budget"], cell["input_size"])
        row = next(r for r in record.ok_rows if (r.name, r.budget, r.input_size) == where)
        size = f"{cell['input_size']}px-" if len(record.grid["input_sizes"]) > 1 else ""
        lines.append((f"{cell['model']}@{size}{cell['budget']}", row.trainable_params, cell["mean"]))
    return lines


def print_summary(record, run_dir):
    """Print the comparison table, the best model, params per accuracy point and skip/fail reasons."""
    print("\n" + "\n".join(comparison_lines(record)))
    ok = record.ok_rows
    if record.best:
        print("\n" + best_line(record))
    near = chance(record)
    if near:
        print(f"near chance ({near * 100:.2f}% for {round(1 / near)} classes): no model learned much, see the report")
    if ok:
        print("trainable params per accuracy point" + (" (mean over seeds)" if seed_cells(record) else "") + ":")
        for label, params, accuracy in _params_per_point(record):
            print(f"  {label:<30} {params / max(accuracy * 100, 1e-9):>12,.0f}")
    total = sum(row.train_seconds for row in ok)
    if total > 0:
        shares = {}
        for row in ok:
            shares[row.name] = shares.get(row.name, 0.0) + row.train_seconds
        print(
            f"training time: {total:.1f}s in all (" + ", ".join(f"{n} {v / total:.0%}" for n, v in shares.items()) + ")"
        )
    if record.is_grid and record.statistics:
        print("\n" + "\n".join(grid_lines(record)))
    split = time_split_text(ok, translator("en"), unit="s")
    if split:
        print("time split: " + split)
    for row in ok:
        if row.fp32_test_accuracy is not None:
            change = (row.test_accuracy - row.fp32_test_accuracy) * 100
            print(
                f"int8: {row.id} {row.test_accuracy * 100:.2f}% on int8 features, "
                f"{row.fp32_test_accuracy * 100:.2f}% on fp32 ones ({change:+.2f} points)"
            )
    nodes = {}
    for row in record.rows:
        if row.node:
            nodes.setdefault(row.node, []).append(row.id)
    for node, ids in nodes.items():
        print(f"ran on {node}: {', '.join(ids)}")
    for row in record.rows:
        if not row.ok:
            print(f"{row.status}: {row.id}: {row.reason}")
    if record.recipe:
        print(f"recipe: {record.recipe}")
    print(f"\nrun folder: {run_dir} (results.json, results.csv, predictions/, models/)")
