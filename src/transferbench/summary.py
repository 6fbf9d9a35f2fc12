"""The end-of-run comparison table printed to the terminal."""

from . import stats


def comparison_lines(record):
    """Table lines: model, weights, accuracy %, loss, total / trainable params, minutes, status."""
    header = (
        f"{'model':<24} {'weights':<22} {'acc %':>7} {'loss':>7} {'total params':>13} {'trainable':>11} "
        f"{'time':>8}  status"
    )
    lines = [header, "-" * len(header)]
    for row in record["rows"]:
        weights = (row.get("weights") or "-")[:22]
        label = row.get("id", row["name"])[:24]
        if row["status"] == "ok":
            lines.append(
                f"{label:<24} {weights:<22} {row['test_accuracy'] * 100:>7.2f} {row['test_loss']:>7.4f} "
                f"{row['total_params']:>13,} {row['trainable_params']:>11,} {row['train_seconds']:>7.1f}s  ok"
            )
        else:
            lines.append(f"{label:<24} {weights:<22} {'-':>7} {'-':>7} {'-':>13} {'-':>11} {'-':>8}  {row['status']}")
    return lines


def time_split(rows):
    """Seconds spent on feature extraction, heads, fine-tuning and scratch models (train + evaluate)."""
    split = {"feature extraction": 0.0, "heads (frozen rows)": 0.0, "fine-tuning": 0.0, "from scratch": 0.0}
    part = {"frozen": "heads (frozen rows)", "probe": "heads (frozen rows)", "fine_tuned": "fine-tuning"}
    part["scratch"] = "from scratch"
    for row in rows:
        features = row.get("feature_seconds") or 0.0
        split["feature extraction"] += features
        split[part[row["phase"]]] += row["train_seconds"] - features + (row.get("evaluate_seconds") or 0.0)
    return {name: seconds for name, seconds in split.items() if seconds > 0}


def print_summary(record, run_dir):
    """Print the comparison table, the best model, params per accuracy point and skip/fail reasons."""
    print("\n" + "\n".join(comparison_lines(record)))
    ok = [row for row in record["rows"] if row["status"] == "ok"]
    if record["best"]:
        best = next(row for row in ok if row.get("id", row["name"]) == record["best"])
        print(f"\nbest model: {record['best']} ({best['test_accuracy'] * 100:.2f}% test accuracy)")
    if ok:
        print("trainable params per accuracy point:")
        for row in ok:
            ident = row.get("id", row["name"])
            print(f"  {ident:<22} {row['trainable_params'] / max(row['test_accuracy'] * 100, 1e-9):>12,.0f}")
    total = sum(row["train_seconds"] for row in ok)
    if total > 0:
        shares = {}
        for row in ok:
            shares[row["name"]] = shares.get(row["name"], 0.0) + row["train_seconds"]
        print(
            f"training time: {total:.1f}s in all (" + ", ".join(f"{n} {v / total:.0%}" for n, v in shares.items()) + ")"
        )
    grid = record.get("grid", {})
    if any(len(grid.get(key, [])) > 1 for key in ("seeds", "budgets", "input_sizes")):
        print("\n" + "\n".join(grid_lines(record)))
    split = time_split(ok)
    if split:
        print("time split: " + ", ".join(f"{part} {seconds:.1f}s" for part, seconds in split.items()))
    for row in record["rows"]:
        if row["status"] != "ok":
            print(f"{row['status']}: {row['name']}: {row['reason']}")
    if record.get("recipe"):
        print(f"recipe: {record['recipe']}")
    print(f"\nrun folder: {run_dir} (results.json, results.csv, predictions/, models/)")


def baseline_name(record):
    """The scratch row that transfer rows are compared with: cnn if it ran, else None."""
    return "cnn" if any(row["name"] == "cnn" for row in record["rows"]) else None


def _interval(estimate, scale=100):
    """'mean ± std [low, high]' in percent, or just the mean when there is one seed."""
    if estimate.std is None:
        return f"{estimate.mean * scale:6.2f} (one seed: no interval)"
    return (
        f"{estimate.mean * scale:6.2f} ± {estimate.std * scale:4.2f} "
        f"[{estimate.low * scale:6.2f}, {estimate.high * scale:6.2f}]"
    )


def sized_rows(record):
    """Rows with the input size in their name when the run compared several sizes ('mobilenetv2 96px')."""
    if len(record["grid"].get("input_sizes", [])) < 2:
        return record["rows"]
    return [{**row, "name": f"{row['name']} {row.get('input_size')}px"} for row in record["rows"]]


def _baseline_for(name, base, record):
    """The scratch row a row is compared with: the same input size when sizes vary."""
    if base is None or len(record["grid"].get("input_sizes", [])) < 2:
        return base
    return f"{base} {name.rsplit(' ', 1)[-1]}"


def grid_lines(record):
    """Per model and label budget: accuracy mean ± std [95% CI] over seeds, and the paired difference
    with the cnn row over the same seeds and subsets; then where each transfer row starts to win."""
    grid = record["grid"]
    base = baseline_name(record)
    rows = sized_rows(record)
    lines = [
        f"over seeds {grid['seeds']} and label budgets {grid['budgets']}: test accuracy %, mean ± std [95% CI]",
        f"{'model':<22} {'budget':>7} {'n':>2}  {'accuracy':<34} {'vs ' + base + ' (paired, points)' if base else ''}",
    ]
    table = stats.groups(rows)
    names = list(dict.fromkeys(name for name, _ in table))
    for name in names:
        against = _baseline_for(name, base, record)
        for budget in grid["budgets"]:
            if (name, budget) not in table:
                continue
            accuracy = stats.estimate(list(table[name, budget].values()))
            text = f"{name:<22} {budget!s:>7} {accuracy.n:>2}  {_interval(accuracy):<34}"
            difference = stats.paired_difference(rows, name, against, budget) if base and name != against else None
            if difference is not None:
                verdict = (
                    "" if difference.std is None else (" significant" if difference.significant else " not significant")
                )
                text += f" {_interval(difference)}{verdict}"
            lines.append(text)
    for name in names:
        against = _baseline_for(name, base, record)
        if base is None or name == against:
            continue
        budget = stats.crossover(rows, name, against, grid["budgets"])
        if budget == "all":
            lines.append(f"crossover: {name} beats {against} significantly with all labelled images")
        elif budget is not None:
            lines.append(f"crossover: {name} beats {against} significantly from {budget} labelled images on")
        elif len(grid["seeds"]) < 2:
            lines.append(f"crossover: {name} vs {against}: needs --seeds 2 or more to test significance")
        else:
            lines.append(
                f"crossover: none for {name}: it does not beat {against} significantly at budget {grid['budgets'][-1]}"
            )
    return lines
