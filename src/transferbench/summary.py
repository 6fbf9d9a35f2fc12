"""The end-of-run comparison table printed to the terminal."""


def comparison_lines(record):
    """Table lines: model, weights, accuracy %, loss, total / trainable params, minutes, status."""
    header = (
        f"{'model':<18} {'weights':<22} {'acc %':>7} {'loss':>7} {'total params':>13} {'trainable':>11} "
        f"{'time':>8}  status"
    )
    lines = [header, "-" * len(header)]
    for row in record["rows"]:
        weights = (row.get("weights") or "-")[:22]
        if row["status"] == "ok":
            lines.append(
                f"{row['name']:<18} {weights:<22} {row['test_accuracy'] * 100:>7.2f} {row['test_loss']:>7.4f} "
                f"{row['total_params']:>13,} {row['trainable_params']:>11,} {row['train_seconds']:>7.1f}s  ok"
            )
        else:
            lines.append(
                f"{row['name']:<18} {weights:<22} {'-':>7} {'-':>7} {'-':>13} {'-':>11} {'-':>8}  {row['status']}"
            )
    return lines


def time_split(rows):
    """Seconds spent on feature extraction, heads, fine-tuning and scratch models (train + evaluate)."""
    split = {"feature extraction": 0.0, "heads (frozen rows)": 0.0, "fine-tuning": 0.0, "from scratch": 0.0}
    part = {"frozen": "heads (frozen rows)", "fine_tuned": "fine-tuning", "scratch": "from scratch"}
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
        best = next(row for row in ok if row["name"] == record["best"])
        print(f"\nbest model: {best['name']} ({best['test_accuracy'] * 100:.2f}% test accuracy)")
    if ok:
        print("trainable params per accuracy point:")
        for row in ok:
            print(f"  {row['name']:<18} {row['trainable_params'] / max(row['test_accuracy'] * 100, 1e-9):>12,.0f}")
    total = sum(row["train_seconds"] for row in ok)
    if total > 0:
        shares = ", ".join(f"{row['name']} {row['train_seconds'] / total:.0%}" for row in ok)
        print(f"training time: {total:.1f}s in all ({shares})")
    split = time_split(ok)
    if split:
        print("time split: " + ", ".join(f"{part} {seconds:.1f}s" for part, seconds in split.items()))
    for row in record["rows"]:
        if row["status"] != "ok":
            print(f"{row['status']}: {row['name']}: {row['reason']}")
    print(f"\nrun folder: {run_dir} (results.json, results.csv, predictions/, models/)")
