"""The report of a run folder: figures, report.md and a self-contained report.html, from the folder alone."""

import base64
import dataclasses
import html
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import classification_report

from . import __version__, plots
from .errors import UsageError
from .i18n import translator
from .recipes import described_in
from .results import load_results, write_text
from .stats import baseline_name, grid_statistics
from .summary import time_split_text
from .verdict import facts, verdict


def _load_run(run_dir):
    """results.json and the saved test images of a run folder, or a UsageError saying what is wrong."""
    run_dir = Path(run_dir)
    record = load_results(run_dir)
    if not (run_dir / "data" / "test_images.npz").is_file():
        raise UsageError(f"{run_dir} has no data/test_images.npz; the run folder is incomplete")
    with np.load(run_dir / "data" / "test_images.npz") as data:
        images = {
            "images": data["images"],
            "labels": data["labels"],
            "class_names": [str(c) for c in data["class_names"]],
        }
    return record, images


def _feature_map_figure(run_dir, record, data, model_name, path, t, seed):
    """Feature maps of one test image for model_name (falls back to the first ok backbone row)."""
    import keras

    from . import layers  # noqa: F401  (registers the custom layers for loading)
    from .modeling import conv_activations, conv_layer_names

    ok = {row.name: row.id for row in record.ok_rows}
    candidates = [model_name] + [n for n in ok if n != model_name]
    name = next((n for n in candidates if n in ok and (Path(run_dir) / "models" / f"{ok[n]}.keras").is_file()), None)
    if name is None:
        return None
    model = keras.models.load_model(Path(run_dir) / "models" / f"{ok[name]}.keras")
    names = conv_layer_names(model)[:3]
    activations_model = conv_activations(model, names)
    index = int(np.random.default_rng(seed).integers(len(data["labels"])))
    activations = activations_model.predict(data["images"][index : index + 1], verbose=0)
    activations = activations if isinstance(activations, list) else [activations]
    label = data["class_names"][data["labels"][index]]
    return plots.feature_maps(
        list(zip(names, [a[0] for a in activations])), data["images"][index], label, name, path, t
    )


def one_cell(record):
    """The record restricted to one cell of the grid (largest size and budget, first seed) for per-model
    figures, with that cell's budget, seed and size."""
    grid = record.grid
    budget, seed, size = grid["budgets"][-1], grid["seeds"][0], grid["input_sizes"][-1]
    rows = [row for row in record.rows if (row.budget, row.seed, row.input_size) == (budget, seed, size)]
    return dataclasses.replace(record, rows=rows), budget, seed, size


def _budget_figure(run_dir, record, t):
    """The accuracy-vs-labels figure (95% intervals from the record's statistics) and the grid table text; the
    table alone when the grid has one label budget, where such a figure would be a column of dots."""
    from .summary import grid_lines

    table = "\n".join(grid_lines(record))
    if len(record.grid["budgets"]) < 2:
        return (t("grid_table_title"), None, table)
    several = len(record.grid["input_sizes"]) > 1
    points = {}
    for cell in record.statistics["cells"]:
        name = f"{cell['model']} {cell['input_size']}px" if several else cell["model"]
        labelled = cell["budget"] if cell["budget"] != "all" else record.dataset["sizes"]["pool"]
        interval = None if cell["low"] is None else (cell["low"], cell["high"])
        points.setdefault(name, []).append((labelled, cell["mean"], interval))
    points = {name: sorted(series) for name, series in points.items()}
    path = plots.budget_curve(points, baseline_name(record), Path(run_dir) / "figures" / "label_budgets.png", t)
    return (t("budget_title"), path, table)


def _seed_figure(run_dir, record, t):
    """With one label budget and several seeds, each model's mean test accuracy with its 95% interval and a dot per
    seed (the budget figure shows this where there are several budgets); None where no cell has several seeds."""
    cells = [c for c in record.statistics["cells"] if c["n"] > 1]
    if len(record.grid["budgets"]) > 1 or not cells:
        return None
    several = len(record.grid["input_sizes"]) > 1
    points = []
    for cell in cells:
        key = (cell["model"], cell["budget"], cell["input_size"])
        rows = [r for r in record.ok_rows if (r.name, r.budget, r.input_size) == key]
        name = f"{cell['model']} {cell['input_size']}px" if several else cell["model"]
        interval = None if cell["low"] is None else (cell["low"], cell["high"])
        scratch = any(r.phase == "scratch" for r in rows)
        points.append((name, cell["mean"], interval, [r.test_accuracy for r in rows], scratch))
    path = plots.seed_intervals(points, Path(run_dir) / "figures" / "test_accuracy_seeds.png", t)
    return (t("seed_points_title"), path, None)


def seconds_with_features(rows):
    """Each row's training seconds by id, a transfer row's counting its features' pass (per backbone, input size and
    seed) even where another cell's row ran it: in a grid one row runs the pass and the others read it."""
    spent = {}
    for row in rows:
        if row.backbone and row.feature_seconds:
            key = (row.backbone, row.input_size, row.seed)
            spent[key] = spent.get(key, 0.0) + row.feature_seconds
    pass_of = {row.id: spent.get((row.backbone, row.input_size, row.seed), 0.0) for row in rows}
    return {row.id: row.train_seconds - (row.feature_seconds or 0.0) + pass_of[row.id] for row in rows}


def _resolution_figure(run_dir, record, t):
    """Accuracy and training cost, features' pass included (mean over seeds, largest budget), against input size, per
    model."""
    budget, cost = record.grid["budgets"][-1], seconds_with_features(record.ok_rows)
    series = {}
    for row in record.ok_rows:
        if row.budget == budget:
            series.setdefault(row.name, {}).setdefault(row.input_size, []).append(row)
    points = {
        name: [
            (size, float(np.mean([r.test_accuracy for r in rs])), float(np.mean([cost[r.id] for r in rs])))
            for size, rs in sorted(by_size.items())
        ]
        for name, by_size in series.items()
    }
    path = plots.resolution_curves(points, Path(run_dir) / "figures" / "input_sizes.png", t)
    return (t("sizes_title"), path, None)


def _table(rows, t):
    """Header and cell rows of the comparison table."""
    header = [
        t("model"),
        t("weights"),
        t("phase"),
        t("acc_pct"),
        t("loss"),
        t("total_params"),
        t("trainable_params"),
        t("frozen_params"),
        t("pct_frozen"),
        t("time_s"),
        t("params_per_point"),
        t("status"),
    ]
    cells = []
    for row in rows:
        if not row.ok:
            cells.append([row.id, row.weights or "-", row.phase, *["-"] * 8, row.status])
            continue
        acc = row.test_accuracy * 100
        cells.append(
            [
                row.id,
                row.weights,
                row.phase,
                f"{acc:.2f}",
                f"{row.test_loss:.4f}",
                f"{row.total_params:,}",
                f"{row.trainable_params:,}",
                f"{row.non_trainable_params:,}",
                f"{row.non_trainable_params / row.total_params:.1%}",
                f"{row.train_seconds:.1f}",
                f"{row.trainable_params / max(acc, 1e-9):,.0f}",
                row.status,
            ]
        )
    return header, cells


def build_figures(run_dir, record, data, t, *, feature_model="vgg16", seed=0):
    """Write every figure into run_dir/figures; return [(title, path, text or None)] in report order."""
    figures_dir = Path(run_dir) / "figures"
    ok = record.ok_rows
    if not ok:
        return []
    trained = [row for row in ok if row.history and row.history.get("loss")]  # a probe has no epochs
    out = []
    if trained:  # a run of probes alone has no curves to draw
        curves = plots.training_curves(trained, figures_dir / "training_curves.png", t)
        out.append((t(plots.curves_title_key(trained)), curves, None))
    out.append((t("bars_title"), plots.accuracy_bars(ok, figures_dir / "test_accuracy.png", t), None))
    fmap = _feature_map_figure(run_dir, record, data, feature_model, figures_dir / "feature_maps.png", t, seed)
    if fmap:
        out.append((t("fmaps_section"), fmap, None))
    best = record.best.id
    ordered = sorted(ok, key=lambda row: row.id != best)
    labels, names = data["labels"], data["class_names"]
    for row in ordered:
        probabilities = np.load(Path(run_dir) / "predictions" / f"{row.id}.npz")["probabilities"]
        predicted = probabilities.argmax(axis=1)
        text = classification_report(
            labels, predicted, labels=np.arange(len(names)), target_names=names, digits=4, zero_division=0
        )
        path = plots.confusion(labels, predicted, names, row.name, figures_dir / f"confusion_{row.name}.png", t)
        out.append((t("confusion_title", model=row.name), path, text))
        if row.id == best:
            loss = -np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1))
            wrong = np.flatnonzero(predicted != labels)
            picks = {
                "examples": np.random.default_rng(seed).choice(len(labels), size=min(12, len(labels)), replace=False),
                "mistakes": wrong[np.argsort(-loss[wrong])][:12],
            }
            for kind, indices in picks.items():
                if len(indices):
                    title = t(f"{kind}_title", model=row.name)
                    path = figures_dir / f"{kind}.png"
                    grid = plots.image_grid(data["images"], labels, probabilities, indices, names, title, path, t)
                    out.append((title, grid, None))
    return out


def frozen_passes(rows, t):
    """One entry per backbone x input size with a frozen pass: its engine(s) and, from a row that ran the pass rather
    than reading it from the cache, what the engine check measured (difference from TensorFlow, both speeds); the
    seconds of every pass it took (one per seed with random weights); when every row read the cache, that, so an entry
    without figures is never a mystery."""
    groups = {}
    for row in rows:
        if row.ok and row.engine and row.backbone:
            groups.setdefault((row.backbone, row.input_size), []).append(row)
    entries = []
    for (backbone, px), group in groups.items():
        engines = ", ".join(dict.fromkeys(f"{r.engine} int8" if r.precision == "int8" else r.engine for r in group))
        ran = next((r for r in group if not r.features_from_cache and r.engine_check), None)
        measured = "; ".join(t.recorded(n) for n in (ran.engine_check, ran.engine_speeds) if n) if ran else None
        if ran is None and all(r.features_from_cache for r in group):
            measured = t("pass_cached")
        passes = [r.feature_seconds for r in group if not r.features_from_cache and r.feature_seconds]
        took = f", {sum(passes):.1f} s" if passes else ""
        took += t("in_passes", count=len(passes)) if len(passes) > 1 else ""
        found = f" ({measured})" if measured else ""
        entries.append(f"{t('pass_at', backbone=backbone, px=px)}: {engines}{took}{found}")
    return entries


def _markdown(record, header, cells, figures, t, run_dir):
    """report.md text."""
    lines = [
        f"# {t('report_title')}",
        "",
        f"*{facts(record, t)}*",
        "",
        f"## {t('verdict')}",
        "",
        " ".join(verdict(record, t)),
        "",
        f"## {t('comparison')}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in cells]
    if record.recipe:
        lines += ["", f"**{t('recipe')}:** {described_in(record, t)}"]
    passes = frozen_passes(record.rows, t)
    if passes:
        lines += ["", f"**{t('passes')}:**", ""] + [f"- {entry}" for entry in passes]
    split = time_split_text(record.ok_rows, t)
    if split:
        lines += ["", f"**{t('time_split')}:** {split}"]
    skipped = [r for r in record.rows if not r.ok]
    if skipped:
        lines += ["", f"## {t('not_ok')}", ""] + [f"- **{r.id}** ({r.status}): {r.reason}" for r in skipped]
    lines += ["", f"## {t('figures')}", ""] if figures else ["", t("no_rows")]
    for title, path, text in figures:
        if path is None:
            lines += [f"*{title}*", ""] + (["```", text.rstrip(), "```", ""] if text else [])
            continue
        lines += [f"### {title}", "", f"![{title}](figures/{path.name})", ""]
        if text:
            lines += ["```", text.rstrip(), "```", ""]
    for key in ("dataset", "config", "environment"):
        lines += [f"## {t(key)}", "", "```json", json.dumps(getattr(record, key), indent=2), "```", ""]
    lines += [t("generated", run=Path(run_dir).name, version=__version__), ""]
    return "\n".join(lines)


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:.8em}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:right}
th{background:#f0f0f0}img{max-width:100%;height:auto}
td:first-child,th:first-child,td:nth-child(2),th:nth-child(2),td:nth-child(3),th:nth-child(3),td:last-child,
th:last-child{text-align:left}
td:nth-child(2){min-width:10em;max-width:16em;overflow-wrap:anywhere}.wide{overflow-x:auto}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:1em;line-height:1.35}
.facts{color:#555}.verdict{background:#eef5ee;border-left:4px solid #4a8;padding:.2em 1em;margin:1em 0}
figure{margin:1.5em 0;break-inside:avoid}
@media print{body{max-width:none;margin:0}figure,table,pre{break-inside:avoid}}"""


def _html(record, header, cells, figures, t, run_dir):
    """report.html text: one self-contained file, figures embedded as base64 PNG."""
    e = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(t('report_title'))}</title>",
        f"<style>{CSS}</style></head><body><h1>{e(t('report_title'))}</h1>",
        f"<p class='facts'>{e(facts(record, t))}</p>",
        f"<section class='verdict'><h2>{e(t('verdict'))}</h2><p>{e(' '.join(verdict(record, t)))}</p></section>",
        f"<h2>{e(t('comparison'))}</h2>",
        "<div class='wide'><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>",
    ]
    parts += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in cells]
    parts.append("</table></div>")
    if record.recipe:
        parts.append(f"<p><b>{e(t('recipe'))}:</b> {e(described_in(record, t))}</p>")
    passes = frozen_passes(record.rows, t)
    if passes:
        parts.append(f"<p><b>{e(t('passes'))}:</b></p><ul>" + "".join(f"<li>{e(p)}</li>" for p in passes) + "</ul>")
    split = time_split_text(record.ok_rows, t)
    if split:
        parts.append(f"<p><b>{e(t('time_split'))}:</b> {e(split)}</p>")
    skipped = [r for r in record.rows if not r.ok]
    if skipped:
        parts.append(
            f"<h2>{e(t('not_ok'))}</h2><ul>"
            + "".join(f"<li><b>{e(r.id)}</b> ({e(r.status)}): {e(str(r.reason))}</li>" for r in skipped)
            + "</ul>"
        )
    parts.append(f"<h2>{e(t('figures'))}</h2>" if figures else f"<p>{e(t('no_rows'))}</p>")
    for title, path, text in figures:
        if path is None:
            parts.append(f"<p><i>{e(title)}</i></p>" + (f"<pre>{e(text)}</pre>" if text else ""))
            continue
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f"<figure><h3>{e(title)}</h3><img alt='{e(title)}' src='data:image/png;base64,{encoded}'>")
        parts.append(f"<pre>{e(text)}</pre></figure>" if text else "</figure>")
    for key in ("dataset", "config", "environment"):
        parts.append(f"<h2>{e(t(key))}</h2><pre>{e(json.dumps(getattr(record, key), indent=2))}</pre>")
    parts.append(
        f"<p><small>{e(t('generated', run=Path(run_dir).name, version=__version__))}</small></p></body></html>"
    )
    return "\n".join(parts)


def build_report(run_dir, *, lang="en", feature_model="vgg16", seed=0):
    """Write figures/, report.md and report.html for a run folder; return the report.html path."""
    t = translator(lang)
    record, data = _load_run(run_dir)
    if record.is_grid:
        # the statistics follow from the rows; recomputed, a run made before a change of method reads in one method
        record.statistics = grid_statistics(record)
        view, budget, cell_seed, size = one_cell(record)
        grid_figures = [_budget_figure(run_dir, record, t)]
        seed_figure = _seed_figure(run_dir, record, t)
        if seed_figure:
            grid_figures.append(seed_figure)
        if len(record.grid["input_sizes"]) > 1:
            grid_figures.append(_resolution_figure(run_dir, record, t))
        note = (t("one_cell_note", budget=budget, seed=cell_seed, px=size), None, None)
        figures = [*grid_figures, note, *build_figures(run_dir, view, data, t, feature_model=feature_model, seed=seed)]
    else:
        figures = build_figures(run_dir, record, data, t, feature_model=feature_model, seed=seed)
    header, cells = _table(record.rows, t)
    write_text(Path(run_dir) / "report.md", _markdown(record, header, cells, figures, t, run_dir))
    write_text(Path(run_dir) / "report.html", _html(record, header, cells, figures, t, run_dir))
    return Path(run_dir) / "report.html"
