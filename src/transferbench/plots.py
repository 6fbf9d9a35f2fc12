"""Figures from a run folder: curves, accuracy bars, feature maps, confusion matrices, prediction examples."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def _save(fig, path):
    """Write a figure as PNG and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def curves_title_key(rows):
    """The curves' title names "transfer learning vs CNN from scratch" only when both kinds of row are drawn."""
    return "curves_title" if {row.phase == "scratch" for row in rows} == {True, False} else "curves_title_plain"


def training_curves(rows, path, t, columns=4):
    """One panel pair per row (accuracy above, loss below), each with its own epoch axis, so a 2-epoch CNN is
    as readable as a 100-epoch head; loss on a log scale, so one row's large loss cannot flatten the others.
    A fine-tuned row shows its phase-1 epochs faded before the boundary."""
    by_id = {row.id: row for row in rows}
    columns = min(columns, len(rows))
    grid_rows = -(-len(rows) // columns)
    fig, axes = plt.subplots(
        2 * grid_rows, columns, figsize=(3.6 * columns, 5.2 * grid_rows), layout="constrained", squeeze=False
    )
    fig.suptitle(t(curves_title_key(rows)), fontsize=14, fontweight="bold")
    for ax in axes.flat:
        ax.set_visible(False)
    for index, row in enumerate(rows):
        top, bottom = axes[2 * (index // columns), index % columns], axes[2 * (index // columns) + 1, index % columns]
        parent = by_id.get(row.parent)
        offset = len(parent.history["loss"]) if parent else 0
        for ax, (train_key, val_key), label in (
            (top, ("accuracy", "val_accuracy"), t("accuracy")),
            (bottom, ("loss", "val_loss"), t("loss")),
        ):
            ax.set_visible(True)
            for key, style, name in ((train_key, "-", t("train")), (val_key, "--", t("validation"))):
                values = row.history[key]
                epochs = np.arange(offset + 1, offset + len(values) + 1)
                line = ax.plot(epochs, values, style, marker="o", markersize=2.5, label=name)[0]
                if parent:
                    before = parent.history[key]
                    ax.plot(np.arange(1, offset + 1), before, style, color=line.get_color(), alpha=0.3)
            if parent:
                ax.axvline(offset + 0.5, color="grey", linestyle=":", linewidth=1)
            ax.set_ylabel(label)
            ax.set_xlabel(t("epoch"))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6, min_n_ticks=1))
            ax.set_xlim(0.5, offset + len(row.history[train_key]) + 0.5)  # whole epochs, even a 1-epoch row
            ax.ticklabel_format(axis="y", useOffset=False)  # '1e-5+2.3025' reads worse than the values
            ax.grid(alpha=0.3)
        losses = [v for key in ("loss", "val_loss") for v in row.history[key] if v > 0]
        if losses and max(losses) / min(losses) > 10:  # log only where one curve would flatten the other
            bottom.set_yscale("log")
        top.set_title(row.name + (f"  ({t('phase_boundary')} ┊)" if parent else ""), fontsize=10)
        top.legend(fontsize=8)
    return _save(fig, path)


def accuracy_bars(rows, path, t):
    """Test accuracy per row with the value on each bar."""
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows)), 4.5))
    values = [row.test_accuracy * 100 for row in rows]
    colors = ["#4c72b0" if row.phase != "scratch" else "#dd8452" for row in rows]
    bars = ax.bar([row.name for row in rows], values, color=colors)
    ax.bar_label(bars, labels=[f"{v:.2f}%" for v in values], padding=3)
    ax.set_ylim(0, 105)
    ax.set_ylabel(t("test_acc_pct"))
    ax.set_title(t("bars_title"), fontweight="bold")
    ax.tick_params(axis="x", rotation=20)
    return _save(fig, path)


def seed_intervals(cells, path, t):
    """Per model, the mean test accuracy over seeds (a diamond), its 95% interval (a line) and each seed (a dot),
    on an axis zoomed to the data, so the spread between seeds is visible and not flattened by a 0-100 axis.

    cells: [(name, mean, (low, high) or None, [one accuracy per seed], scratch?), ...]."""
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.55 * len(cells)), layout="constrained")
    for index, (name, mean, interval, seeds, scratch) in enumerate(cells):
        color = "#dd8452" if scratch else "#4c72b0"
        if interval is not None:
            ax.plot([interval[0] * 100, interval[1] * 100], [index, index], color=color, linewidth=3, alpha=0.6)
        ax.plot([a * 100 for a in seeds], [index] * len(seeds), "o", color="black", markersize=4, alpha=0.6)
        ax.plot(mean * 100, index, "D", color=color, markersize=8)
        ax.annotate(
            f"{mean * 100:.2f}%",
            (mean * 100, index),
            xytext=(0, 8),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
    ax.set_yticks(range(len(cells)), [c[0] for c in cells])
    ax.set_ylim(len(cells) - 0.4, -0.6)  # the first model on top, room above it for its label
    values = [a * 100 for c in cells for a in (*c[3], *(c[2] or ()))]
    pad = max(0.5, 0.08 * (max(values) - min(values)))
    ax.set_xlim(min(values) - pad, max(values) + pad)
    ax.set_xlabel(t("test_acc_pct"))
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(t("seed_points_title"), fontweight="bold")
    return _save(fig, path)


def feature_maps(layer_outputs, image, label, model_name, path, t, channels=8):
    """For one image, `channels` channels of each given conv layer output, with names and shapes."""
    fig, axes = plt.subplots(len(layer_outputs), channels + 1, figsize=(1.6 * (channels + 1), 1.9 * len(layer_outputs)))
    axes = np.atleast_2d(axes)
    fig.suptitle(t("fmaps_title", model=model_name, label=label), fontweight="bold")
    for row_axes, (name, activation) in zip(axes, layer_outputs):
        row_axes[0].imshow(image.squeeze(), cmap="gray")
        row_axes[0].set_title(f"{name}\n{tuple(activation.shape)}", fontsize=7)
        for c, ax in enumerate(row_axes[1:]):
            ax.imshow(activation[..., c], cmap="viridis")
            ax.set_title(f"{t('channel')} {c}", fontsize=7)
        for ax in row_axes:
            ax.axis("off")
    return _save(fig, path)


def confusion(labels, predicted, class_names, model_name, path, t):
    """Confusion-matrix heatmap with counts."""
    fig, ax = plt.subplots(figsize=(7, 6))
    ConfusionMatrixDisplay.from_predictions(
        labels,
        predicted,
        labels=np.arange(len(class_names)),
        display_labels=class_names,
        cmap="Blues",
        ax=ax,
        colorbar=True,
    )
    ax.set_xlabel(t("predicted"))
    ax.set_ylabel(t("true"))
    ax.set_title(t("confusion_title", model=model_name), fontweight="bold")
    return _save(fig, path)


def image_grid(images, labels, probabilities, indices, class_names, title, path, t):
    """Images with predicted / true label and confidence, green when right and red when wrong; a few images (a
    nearly perfect model's mistakes) get a narrow figure, not a row of blanks."""
    cols = min(6, max(3, len(indices)))
    rows = max(1, int(np.ceil(len(indices) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(2.1 * cols, 2.5 * rows), layout="constrained")
    fig.suptitle(title, fontweight="bold")
    for ax in np.atleast_1d(axes).flat:
        ax.axis("off")
    for ax, i in zip(np.atleast_1d(axes).flat, indices):
        pred = int(probabilities[i].argmax())
        ax.imshow(images[i].squeeze(), cmap="gray" if images.shape[-1] == 1 else None)
        ax.set_title(
            t("pred_true", pred=class_names[pred], true=class_names[labels[i]], conf=probabilities[i][pred]),
            fontsize=9,
            color="green" if pred == labels[i] else "red",
        )
    return _save(fig, path)


def budget_curve(points, baseline, path, t):
    """Test accuracy against labelled training images (log x), one line per model, 95% interval error bars.

    points: {name: [(train images, mean, (low, high) or None), ...]} sorted by train images."""
    fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    for name, series in points.items():
        x = [p[0] for p in series]
        y = [p[1] * 100 for p in series]
        below = [0 if p[2] is None else max(0.0, (p[1] - p[2][0]) * 100) for p in series]
        above = [0 if p[2] is None else max(0.0, (p[2][1] - p[1]) * 100) for p in series]
        style = "--" if name == baseline else "-"
        ax.errorbar(x, y, yerr=[below, above], marker="o", capsize=4, linestyle=style, label=name)
    ax.set_xscale("log")
    budgets = sorted({p[0] for series in points.values() for p in series})
    ax.set_xticks(budgets, [f"{b:,}" for b in budgets])  # the measured budgets, not just powers of ten
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(t("labelled_images"))
    ax.set_ylabel(t("test_acc_pct"))
    ax.set_title(t("budget_title"), fontweight="bold")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def resolution_curves(points, path, t):
    """Two panels against input size: test accuracy and training seconds, one line per model.

    points: {name: [(input size, accuracy, seconds), ...]}."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    for name, series in points.items():
        sizes = [p[0] for p in series]
        left.plot(sizes, [p[1] * 100 for p in series], marker="o", label=name)
        right.plot(sizes, [p[2] for p in series], marker="o", label=name)
    for ax, label in ((left, t("test_acc_pct")), (right, t("train_seconds"))):
        ax.set_xlabel(t("input_size"))
        ax.set_ylabel(label)
        ax.set_xticks(sorted({p[0] for series in points.values() for p in series}))
        ax.grid(True, alpha=0.3)
    seconds = [p[2] for series in points.values() for p in series if p[2] > 0]
    if seconds and max(seconds) / min(seconds) > 20:  # log only where costs span orders of magnitude
        right.set_yscale("log")
        right.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # '10', not '10^1'
        right.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "25" else ""))
    left.legend()
    fig.suptitle(t("sizes_title"), fontweight="bold")
    return _save(fig, path)
