"""Repeats over seeds, label budgets, statistics, the linear probe and the grid end to end."""

import json
from collections import Counter

import numpy as np
import pytest
from conftest import spec_of

from transferbench import stats
from transferbench.cli import main
from transferbench.config import RunConfig, resolve
from transferbench.errors import UsageError
from transferbench.probe import fit_probe
from transferbench.records import RowResult, RunRecord
from transferbench.splits import budget_indices
from transferbench.summary import comparison_lines, grid_lines


def test_identical_values_give_a_zero_width_interval():
    est = stats.estimate([0.9, 0.9, 0.9])
    assert est.mean == pytest.approx(0.9) and est.std == 0 and est.low == pytest.approx(est.high)


def test_intervals_stay_inside_0_and_100_percent():
    two = stats.estimate([0.999, 1.0], test_size=1000)  # a t-interval of two seeds passed 100%
    assert 0 <= two.low <= two.mean <= two.high <= 1 and two.method == stats.POOLED_METHOD
    three = stats.estimate([0.2, 0.99, 1.0])  # Student t alone gives [-41, 187]%: clipped to what can be
    assert (three.low, three.high) == (0.0, 1.0) and three.method == stats.SEED_METHOD
    difference = stats.estimate([-0.95, -0.9, -0.7], difference=True)  # t alone: [-118, -52] points
    assert difference.low == -1.0 and -1 < difference.high < 0  # a difference of accuracies lies in [-1, 1]
    assert stats.estimate([5.0]).low is None


def test_wilson_interval_matches_its_formula():
    low, high = stats.wilson(90, 100)
    assert low == pytest.approx(0.8256, abs=1e-4) and high == pytest.approx(0.9448, abs=1e-4)
    assert stats.wilson(100, 100)[1] == 1.0 and stats.wilson(0, 100)[0] == pytest.approx(0.0, abs=1e-12)


def test_fewer_than_three_seeds_cannot_tell_significance():
    assert stats.estimate([0.1, 0.2], difference=True).significant is None
    assert stats.estimate([0.1, 0.12, 0.11], difference=True).significant is True
    assert stats.estimate([-0.1, 0.12, 0.01], difference=True).significant is False
    # three differences of one sign are not enough by themselves: 1, 2 and 3 points give p = 0.074
    assert stats.estimate([0.01, 0.02, 0.03], difference=True).significant is False


def test_a_difference_of_zero_is_called_significant_about_one_time_in_twenty():
    """The 95% claim holds at the seed counts people run: the percentile bootstrap over 3 seeds called 24% of
    null differences significant (its interval is the values' range), over 10 seeds 11%."""
    rng = np.random.default_rng(0)
    for seeds in (3, 5, 10):
        calls = [stats.estimate(rng.normal(0, 0.01, seeds), difference=True).significant for _ in range(4000)]
        assert 0.04 < np.mean(calls) < 0.06, seeds
    shifted = [stats.estimate(rng.normal(0.01, 0.01, 10), difference=True).significant for _ in range(1000)]
    assert 0.7 < np.mean(shifted) < 0.9  # over 10 seeds a difference of one seed-sd is found ~80% of the time


def _row(name, budget, seed, accuracy, status="ok"):
    return RowResult(name, name, "frozen", budget=budget, seed=seed, status=status, test_accuracy=accuracy)


def test_paired_difference_uses_matching_seeds_only():
    rows = [
        _row("a", 100, 1, 0.80),
        _row("a", 100, 2, 0.82),
        _row("a", 100, 3, 0.90),
        _row("cnn", 100, 1, 0.70),
        _row("cnn", 100, 2, 0.71),
        _row("cnn", 100, 3, None, status="failed"),
    ]
    diff = stats.paired_difference(stats.groups(rows), "a", "cnn", 100)
    assert diff.n == 2 and diff.mean == pytest.approx(((0.80 - 0.70) + (0.82 - 0.71)) / 2)


def test_crossover_is_the_smallest_budget_from_which_every_larger_one_wins():
    rows = []
    for seed, noise in enumerate([0.0, 0.01, -0.01]):
        rows += [_row("cnn", b, seed, acc + noise) for b, acc in ((100, 0.5), (1000, 0.8), ("all", 0.95))]
        rows += [_row("t", b, seed, acc + noise * 2) for b, acc in ((100, 0.4), (1000, 0.9), ("all", 0.99))]
    table = stats.groups(rows)
    assert stats.crossover(table, "t", "cnn", [100, 1000, "all"]) == 1000
    assert stats.crossover(table, "cnn", "t", [100, 1000, "all"]) is None


def _record(rows, seeds):
    return RunRecord(
        config={},
        dataset={"sizes": {"test": 1000}},
        recipe="",
        environment={},
        rows=rows,
        grid={"seeds": seeds, "budgets": [100, 1000, "all"], "input_sizes": [32]},
    )


def test_crossover_line_reads_naturally_for_every_budget_kind():
    rows = []
    for seed, noise in enumerate([0.0, 0.01, -0.01]):
        rows += [_row("cnn", b, seed, acc + noise) for b, acc in ((100, 0.5), (1000, 0.9), ("all", 0.95))]
        rows += [_row("t", b, seed, acc + noise * 2) for b, acc in ((100, 0.4), (1000, 0.8), ("all", 0.99))]
        rows += [_row("u", b, seed, acc + noise * 2) for b, acc in ((100, 0.6), (1000, 0.95), ("all", 0.99))]
    record = _record(rows, [0, 1, 2])
    record.statistics = stats.grid_statistics(record)
    lines = grid_lines(record)
    assert "crossover: t 32px beats cnn significantly with all labelled images" in lines
    assert "crossover: u 32px beats cnn significantly from 100 labelled images on" in lines
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    for row in rows:
        row.train_seconds, row.trainable_params = 1.0, 10
    answer = verdict(record, translator("en"))
    assert "u 32px beats cnn significantly from 100 labelled images on." in answer
    assert "t 32px beats cnn significantly only with all labelled images." in answer
    two = _record([r for r in rows if r.seed < 2], [0, 1])
    two.statistics = stats.grid_statistics(two)
    assert not two.statistics["can_tell_significance"]
    assert all(cell["significant"] is None for cell in two.statistics["cells"])
    assert "crossover: t 32px vs cnn: needs --seeds 3 or more" in grid_lines(two)


def test_budgets_give_exact_stratified_counts():
    labels = np.repeat(np.arange(10), 500)
    train, val = budget_indices(labels, 300, seed=3, val_fraction=0.1)
    assert len(train) + len(val) == 300 and len(val) == 30
    assert set(Counter(labels[np.concatenate([train, val])]).values()) == {30}
    assert set(Counter(labels[val]).values()) == {3} and not set(train) & set(val)
    small_train, small_val = budget_indices(labels, 100, seed=3, val_fraction=0.1)
    assert len(small_val) == 20  # the floor: 2 per class
    again = budget_indices(labels, 300, seed=3, val_fraction=0.1)
    assert np.array_equal(again[0], train)
    with pytest.raises(UsageError, match="larger than the 5000 training images"):
        budget_indices(labels, 6000, seed=0, val_fraction=0.1)
    with pytest.raises(UsageError, match="too small for 10 classes"):
        budget_indices(labels, 25, seed=0, val_fraction=0.1)


def test_seed_and_budget_settings():
    cfg = resolve({}, {"seeds": "3", "seed": 7, "label_budgets": "all,1000,100"})
    assert cfg.seed_list() == [7, 8, 9] and cfg.budget_list() == [100, 1000, "all"]
    assert resolve({}, {"seeds": "1,5"}).seed_list() == [1, 5]
    for bad, message in (("seeds", "x"), ("seeds", "0"), ("label_budgets", "10"), ("label_budgets", "100,100")):
        with pytest.raises(UsageError):
            resolve({}, {bad: message})


def test_probe_on_two_separable_blobs_is_near_perfect():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 1, (200, 5)), rng.normal(3, 1, (200, 5))]).astype(np.float32)
    y = np.repeat([0, 1], 200)
    order = rng.permutation(400)
    x, y = x[order], y[order]
    weights, bias, record = fit_probe((x[:300], y[:300]), (x[300:], y[300:]), seed=0)
    logits = x[300:] @ weights + bias
    assert (logits.argmax(axis=1) == y[300:]).mean() >= 0.99 and record["val_accuracy"] >= 0.99
    assert record["probe_C"] in (0.01, 0.1, 1.0, 10.0) and len(record["probe_grid"]) == 4


def test_probe_head_reproduces_sklearn_on_three_classes():
    from sklearn.linear_model import LogisticRegression

    from transferbench.probe import probe_head

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)).astype(np.float32) * 4 + 10
    y = rng.integers(0, 3, 300)
    weights, bias, record = fit_probe((x[:200], y[:200]), (x[200:], y[200:]), seed=0, grid=(1.0,))
    mean, scale = x[:200].mean(0), x[:200].std(0)
    reference = LogisticRegression(C=1.0, max_iter=300, random_state=0).fit((x[:200] - mean) / scale, y[:200])
    expected = reference.predict_proba((x[200:] - mean) / scale)
    np.testing.assert_allclose(probe_head(weights, bias).predict(x[200:], verbose=0), expected, atol=1e-5)


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid") / "run"
    argv = ["run", "--weights", "random", "--models", "mobilenetv2,mobilenetv2_probe,cnn", "--fine-tune", "none"]
    argv += ["--train-limit", "400", "--test-limit", "100", "--epochs", "1", "--seeds", "2"]
    argv += ["--label-budgets", "60,all", "--recipe", "course", "--out", str(out)]
    return main(argv), out


@pytest.mark.slow
def test_grid_runs_every_cell_and_reports_the_curve(grid_run, capsys):
    code, out = grid_run
    assert code == 0
    record = json.loads((out / "results.json").read_text())
    ids = [row["id"] for row in record["rows"]]
    assert {cell["model"] for cell in record["statistics"]["cells"]} == {"mobilenetv2", "mobilenetv2_probe", "cnn"}
    assert (out / "grid.csv").read_text().startswith("model,input_size,budget,n,mean,")
    assert len(ids) == 12 and len(set(ids)) == 12
    assert {(row["budget"], row["seed"]) for row in record["rows"]} == {(60, 42), (60, 43), ("all", 42), ("all", 43)}
    small = [row for row in record["rows"] if row["budget"] == 60]
    assert {row["train_size"] for row in small} == {40}  # 60 labels, 20 of them (2 per class) for validation
    for row in record["rows"]:
        assert (out / "predictions" / f"{row['id']}.npz").is_file()
    probe = next(row for row in record["rows"] if row["phase"] == "probe")
    assert probe["probe_C"] in (0.01, 0.1, 1.0, 10.0) and probe["features_from_cache"]  # the frozen row's features
    assert (out / "figures" / "label_budgets.png").stat().st_size > 10_000
    report = (out / "report.md").read_text()
    assert "vs cnn (paired, points)" in report and "crossover" in report


@pytest.mark.slow
def test_a_report_recomputes_the_grid_statistics_from_the_rows(grid_run, tmp_path):
    """Statistics follow from the rows: a run folder written under an older interval method (or edited) is
    reported in the current method throughout, the answer and the grid table alike."""
    import shutil

    _, out = grid_run
    old = shutil.copytree(out, tmp_path / "old")
    record = json.loads((old / "results.json").read_text())
    record["statistics"]["methods"] = {key: "an older method" for key in record["statistics"]["methods"]}
    for cell in record["statistics"]["cells"]:
        cell["low"], cell["high"] = 0.0, 1.0
    (old / "results.json").write_text(json.dumps(record))
    assert main(["report", str(old)]) == 0
    report = (old / "report.md").read_text()
    assert "an older method" not in report and "[0.00, 100.00]" not in report
    assert f"intervals: {stats.POOLED_METHOD}" in report  # two seeds


@pytest.mark.slow
def test_probe_model_predicts_like_its_recorded_predictions(grid_run):
    import keras

    from transferbench import layers  # noqa: F401

    _, out = grid_run
    row_id = "mobilenetv2_probe@all-s42"
    model = keras.models.load_model(out / "models" / f"{row_id}.keras")
    with np.load(out / "data" / "test_images.npz") as data:
        images = data["images"]
    saved = np.load(out / "predictions" / f"{row_id}.npz")["probabilities"]
    np.testing.assert_allclose(model.predict(images, verbose=0), saved, atol=1e-4)


@pytest.mark.slow
def test_config_records_the_grid(grid_run):
    _, out = grid_run
    record = json.loads((out / "results.json").read_text())
    assert record["grid"] == {"seeds": [42, 43], "budgets": [60, "all"], "input_sizes": [32]}
    assert RunConfig(**{k: v for k, v in record["config"].items()}).validate().seed_list() == [42, 43]


@pytest.mark.slow
def test_fair_recipe_tries_each_head_learning_rate_and_keeps_the_best(row_inputs, monkeypatch):
    from transferbench import rows
    from transferbench.experiment import run_row
    from transferbench.recipes import HEAD_LRS

    searches, search_class = [], rows.HeadSearch
    monkeypatch.setattr(rows, "HeadSearch", lambda *a, **k: searches.append(search_class(*a, **k)) or searches[-1])
    cfg = RunConfig(models=["mobilenetv2"], fine_tune=["none"], weights="random", recipe="fair", disk_cache=False)
    row = run_row(spec_of(cfg, "mobilenetv2"), row_inputs(cfg)).to_dict()
    assert row["status"] == "ok", row["reason"]
    assert [s.gathered_in_graph_ for s in searches] == [True]  # the row's features are shared with the graph
    assert set(row["lr_grid"]) == set(row["lr_epochs"]) == {f"{lr:g}" for lr in HEAD_LRS}
    assert row["learning_rate"] == float(min(row["lr_grid"], key=row["lr_grid"].get))
    assert min(row["history"]["val_loss"]) == pytest.approx(min(row["lr_grid"].values()))
    seed_cfg = RunConfig(models=["mobilenetv2"], fine_tune=["none"], weights="random", recipe="course", epochs=2)
    seed_row = run_row(spec_of(seed_cfg, "mobilenetv2"), row_inputs(seed_cfg)).to_dict()
    assert seed_row["learning_rate"] == 1e-4 and seed_row["lr_grid"] is None and seed_row["epochs_run"] <= 2


@pytest.mark.slow
@pytest.mark.parametrize("head_search", ["side-by-side", "sequential"])
def test_fast_recipe_lowers_each_head_rate_along_a_cosine_to_its_short_cap(row_inputs, monkeypatch, head_search):
    import keras

    from transferbench import recipes, rows
    from transferbench.experiment import run_row

    monkeypatch.setattr(recipes, "FAST_HEAD_EPOCHS", 4)
    searches, search_class, rates, fit = [], rows.HeadSearch, [], rows._fit
    monkeypatch.setattr(rows, "HeadSearch", lambda *a, **k: searches.append(search_class(*a, **k)) or searches[-1])

    def fit_and_record_rates(model, *args, callbacks=(), **settings):  # the rate each sequential epoch trained at
        rates.append([])
        spy = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: rates[-1].append(float(model.optimizer.learning_rate.numpy()))
        )
        return fit(model, *args, callbacks=[*callbacks, spy], **settings)

    monkeypatch.setattr(rows, "_fit", fit_and_record_rates)
    settings = dict(fine_tune=["none"], weights="random", recipe="fast", head_search=head_search, disk_cache=False)
    cfg = RunConfig(models=["mobilenetv2"], **settings)
    row = run_row(spec_of(cfg, "mobilenetv2"), row_inputs(cfg)).to_dict()
    assert row["status"] == "ok", row["reason"]
    assert row["head_search"] == head_search
    assert set(row["lr_epochs"]) == {"0.0001", "0.001", "0.01"} and max(row["lr_epochs"].values()) <= 4
    if head_search == "side-by-side":  # each rate is lowered after every epoch it trained, to 0 at the cap
        assert not rates and [s.decay for s in searches] == ["cosine"]
        for candidate in searches[0].candidates_:
            expected = recipes.cosine_rate(candidate.learning_rate, candidate.epochs_run, 4)
            assert float(candidate.optimizer.rate.numpy()) == pytest.approx(expected)
    else:
        assert not searches and len(rates) == 3
        for lr, trained in zip((1e-4, 1e-3, 1e-2), rates):
            assert trained == pytest.approx([recipes.cosine_rate(lr, epoch, 4) for epoch in range(len(trained))])


@pytest.mark.slow
def test_resolution_study_runs_each_input_size(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["run", "--weights", "random", "--models", "mobilenetv2,cnn", "--fine-tune", "none", "--recipe", "course"]
    argv += [
        "--train-limit",
        "200",
        "--test-limit",
        "100",
        "--epochs",
        "1",
        "--input-sizes",
        "48,32",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["grid"]["input_sizes"] == [32, 48]
    assert [row["id"] for row in record["rows"]] == [
        "mobilenetv2@32px-all-s42",
        "cnn@32px-all-s42",
        "mobilenetv2@48px-all-s42",
        "cnn@48px-all-s42",
    ]
    assert [row["input_size"] for row in record["rows"]] == [32, 32, 48, 48]
    assert (out / "figures" / "input_sizes.png").is_file()
    out_lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["mobilenetv2", "48"] for line in out_lines if line.strip())  # its grid cell
    # one label budget: the grid table without a budget figure (it would be a column of dots)
    assert not (out / "figures" / "label_budgets.png").exists()
    report = (out / "report.md").read_text()
    assert "*Test accuracy over the grid" in report and "vs cnn (paired, points)" in report
    assert report.index("input_sizes.png") < report.index("one cell of the grid: label budget all, seed 42, 48 px")


def test_budget_curve_ticks_are_the_measured_budgets(tmp_path, monkeypatch):
    """The label-budget figure's x ticks name the budgets run (e.g. 'all' = 1,437 images), not just powers of ten."""
    from transferbench import plots

    saved = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: saved.setdefault("fig", fig))
    points = {"probe": [(100, 0.5, (0.4, 0.6)), (1437, 0.8, None)], "cnn": [(100, 0.7, None), (1437, 0.9, None)]}
    plots.budget_curve(points, "cnn", tmp_path / "b.png", lambda key, **_: key)
    ax = saved["fig"].axes[0]
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["100", "1,437"]


def _grid_record(accuracies, seeds=(1, 2, 3)):
    """A finished record of these {model: [accuracy per seed]} rows, with the grid's statistics."""
    record = RunRecord(
        config={"dataset": "digits", "weights": "imagenet", "recipe": "fair"},
        dataset={"sizes": {"pool": 1000, "test": 300}},
        grid={"seeds": list(seeds), "budgets": ["all"], "input_sizes": [32]},
        recipe="fair",
        environment={},
        finished=True,
    )
    for name, values in accuracies.items():
        for seed, accuracy in zip(seeds, values):
            phase = "scratch" if name.startswith("cnn") else "probe"
            record.rows.append(
                RowResult(
                    id=f"{name}@all-s{seed}",
                    name=name,
                    phase=phase,
                    seed=seed,
                    weights="scratch" if phase == "scratch" else "imagenet",
                    test_accuracy=accuracy,
                    test_loss=1 - accuracy,
                    train_seconds=float(seed),
                    trainable_params=10,
                    total_params=20,
                )
            )
    record.statistics = stats.grid_statistics(record)
    return record


def test_over_seeds_the_answer_names_the_best_mean_not_a_lucky_seed():
    """One lucky seed (0.99) must not make a model 'best' over seeds; the margin is between the two means."""
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    record = _grid_record({"lucky_probe": [0.99, 0.80, 0.81], "cnn": [0.95, 0.96, 0.94]})
    answer = " ".join(verdict(record, translator("en")))
    assert record.best.name == "lucky_probe"  # the best single row
    assert answer.startswith("Best: cnn, 95.00% test accuracy, after 2 s")
    assert "It leads lucky_probe by 8.33 points, which is not significant over 3 seeds" in answer
    assert "(the paired 95% interval, -18.46 to +35.13, includes 0)" in answer  # one seed went the other way


def test_over_three_seeds_the_lead_over_the_runner_up_says_whether_the_seeds_separate_them():
    """'Which backbone' is the tool's question: over 3 or more common seeds the lead is a paired difference with
    its interval, in either language; over two it stays a plain margin, since two seeds cannot tell."""
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    record = _grid_record({"a_probe": [0.90, 0.91, 0.92], "b_probe": [0.80, 0.82, 0.81]})
    answer = " ".join(verdict(record, translator("en")))
    assert (
        "It leads b_probe by 10.00 points, significantly over 3 seeds (paired 95% interval +7.52 to +12.48)." in answer
    )
    answer = " ".join(verdict(record, translator("es")))
    assert "Supera a b_probe por 10.00 puntos, de forma significativa sobre 3 semillas" in answer
    two = _grid_record({"a_probe": [0.90, 0.91], "b_probe": [0.80, 0.82]}, seeds=(1, 2))
    assert "It leads b_probe by 9.50 points. " in " ".join(verdict(two, translator("en")))


def test_the_answer_says_when_no_transfer_row_ran():
    """With every backbone row skipped (offline ImageNet weights), 'no transfer row beats the CNN' would mislead."""
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    record = _grid_record({"cnn": [0.9, 0.91, 0.92]})
    record.rows.append(RowResult(id="vgg16@all-s1", name="vgg16", phase="frozen", status="skipped", reason="offline"))
    answer = " ".join(verdict(record, translator("en")))
    assert "No transfer row finished (1 did not run: see below)" in answer
    assert "No transfer row beats" not in answer
    record = _grid_record({"cnn": [0.9, 0.91, 0.92], "vgg16": [0.5, 0.6, 0.7]})
    assert "No transfer row beats the CNN" in " ".join(verdict(record, translator("en")))


def test_when_the_modern_scratch_cnn_wins_the_answer_does_not_call_it_transfer():
    """cnn_modern beating cnn significantly is a win for training from scratch: the answer says no transfer row
    beats it, and names cnn_modern, not 'Transfer', as what beats cnn."""
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    rows = {"some_probe": [0.90, 0.91, 0.92], "cnn": [0.95, 0.96, 0.94], "cnn_modern": [0.99, 0.995, 0.992]}
    for lang, won, beats in (
        ("en", "cnn_modern is trained from scratch too: no transfer row beats it here.", "cnn_modern beats cnn by +"),
        ("es", "ninguna fila de transferencia lo supera aquí", "cnn_modern supera a cnn por +"),
    ):
        answer = " ".join(verdict(_grid_record(rows), translator(lang)))
        assert won in answer and beats in answer and "Transfer beats" not in answer
        assert "transferencia supera" not in answer
    assert "labelled images on" not in answer  # one budget: no crossover sentence repeating the significance
    scratch_only = " ".join(verdict(_grid_record({k: rows[k] for k in ("cnn", "cnn_modern")}), translator("en")))
    assert "transfer" not in scratch_only.lower() and "cnn_modern beats cnn by +" in scratch_only


def test_the_terminal_summary_names_the_best_mean_and_lists_each_cell_once(capsys, tmp_path):
    """The printed summary agrees with the report's answer over seeds, and a grid's params-per-point list has one
    line per model and budget, not one per seed."""
    from transferbench.summary import print_summary

    record = _grid_record({"lucky_probe": [0.99, 0.80, 0.81], "cnn": [0.95, 0.96, 0.94]})
    print_summary(record, tmp_path)
    out = capsys.readouterr().out
    assert "best model: cnn at all labels, 32 px, 95.00% mean test accuracy over 3 seeds" in out
    assert "(best single row lucky_probe@all-s1, 99.00%)" in out
    listed = out.split("trainable params per accuracy point (mean over seeds):\n")[1].splitlines()[:3]
    assert [line.split()[0] for line in listed] == ["lucky_probe@all", "cnn@all", "training"]


def test_over_two_seeds_the_answer_gives_the_paired_mean_difference_with_the_cnn():
    """Two seeds cannot tell significance, but the difference the answer gives is still the grid's paired mean
    (+3.50), not one seed's (-3.00)."""
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    record = _grid_record({"probe": [0.92, 0.90], "cnn": [0.95, 0.80]}, seeds=(1, 2))
    answer = " ".join(verdict(record, translator("en")))
    assert answer.startswith("Best: probe, 91.00%") and "It is +3.50 points against cnn" in answer


def test_the_answer_states_the_course_recipe_and_seed_count_of_this_run():
    """The limits quote this run's head settings and seed count, in both languages, without '(s)' plurals."""
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    record = _grid_record({"p_probe": [0.9], "cnn": [0.95]}, seeds=(1,))
    record.config.update(recipe="course", lr=1e-3, epochs=2)
    english = " ".join(verdict(record, translator("en")))
    assert "(Adam 0.001, an epoch cap of 2)" in english
    assert "With fewer than 3 seeds (1 here)" in english and "(s)" not in english
    spanish = " ".join(verdict(record, translator("es")))
    assert "(Adam 0.001, tope de épocas 2)" in spanish and "(s)" not in spanish
    assert "--recipe fair" not in english
    record.config.update(recipe="fast")
    assert "The fast recipe stops each head's search at 20 epochs" in " ".join(verdict(record, translator("en")))
    assert "La receta fast detiene" in " ".join(verdict(record, translator("es")))


def test_the_report_lists_each_frozen_pass_with_what_its_engine_check_measured():
    """One entry per backbone x size, its check from the row that ran the pass (not one that read the cache); an
    entry whose rows all read the cache says so."""
    from transferbench.i18n import translator
    from transferbench.reporting import frozen_passes

    check, speeds = "vs tensorflow max abs 4.20e-05, max rel 1.82e-06", "openvino 1,317 vs tensorflow 1,031 images/s"
    rows = [
        RowResult(
            id="r_probe",
            name="r_probe",
            phase="probe",
            backbone="resnet50",
            engine="openvino",
            engine_check="features read from the cache",
            features_from_cache=True,
        ),
        RowResult(
            id="r",
            name="r",
            phase="frozen",
            backbone="resnet50",
            engine="openvino",
            engine_check=check,
            engine_speeds=speeds,
            features_from_cache=False,
        ),
        RowResult(id="v", name="v", phase="frozen", backbone="vgg16", engine="tf", input_size=96),
        RowResult(id="mc", name="mc", phase="frozen", backbone="mobilenetv2", engine="tf", features_from_cache=True),
        RowResult(id="cnn", name="cnn", phase="scratch"),
        RowResult(id="m", name="m", phase="frozen", backbone="mobilenetv2", engine="openvino", status="failed"),
    ]
    assert frozen_passes(rows, translator("en")) == [
        f"resnet50 at 32 px: openvino ({check}; {speeds})",
        "vgg16 at 96 px: tf",
        "mobilenetv2 at 32 px: tf (features read from the cache)",
    ]
    assert frozen_passes(rows, translator("es"))[1] == "vgg16 a 96 px: tf"
    assert frozen_passes(rows, translator("es"))[2] == "mobilenetv2 a 32 px: tf (rasgos leídos de la caché)"


def test_a_run_of_probes_alone_gets_its_report(tmp_path):
    """Probes train no epochs: the report leaves the training curves out instead of failing on an empty grid."""
    out = tmp_path / "probes"
    argv = ["run", "--dataset", "digits", "--models", "mobilenetv3small_probe", "--weights", "random"]
    assert main([*argv, "--test-limit", "200", "--no-disk-cache", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "Training curves" not in report and "Test accuracy by model" in report
    assert "mobilenetv3small at 32 px:" in report


def test_the_terminal_table_keeps_every_row_id_whole_and_its_columns_aligned():
    rows = []
    for seed in (42, 43):
        row = _row(f"mobilenetv3small_probe@1000-s{seed}", 1000, seed, 0.5)
        row.weights, row.test_loss, row.total_params, row.trainable_params, row.train_seconds = (
            "file:a_long_weights_file_name.weights.h5 sha256:61fe74387a8f",
            1.0,
            10,
            5,
            1.0,
        )
        rows.append(row)
    rows.append(_row("cnn@1000-s42", 1000, 42, None, status="failed"))
    lines = comparison_lines(_record(rows, [42, 43]))
    assert [line.split()[0] for line in lines[2:]] == [row.id for row in rows]
    assert len({line.index(" 50.00 ") for line in lines[2:4]}) == 1 and lines[2].index("file:") == lines[0].index(
        "weights"
    )
    assert "file:a_long_weights_f… " in lines[2] and lines[4].endswith("failed")


def test_a_tie_at_the_top_reads_as_a_tie_in_either_language():
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    record = _grid_record({"some_probe": [1.0, 1.0, 1.0], "cnn": [1.0, 1.0, 1.0]})
    english = " ".join(verdict(record, translator("en")))
    assert "It ties with" in english and "leads" not in english
    assert "Empata con" in " ".join(verdict(record, translator("es")))


def test_the_answer_warns_when_one_test_image_is_worth_more_than_a_point():
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    record = _grid_record({"some_probe": [0.75, 0.75, 1.0], "cnn": [1.0, 1.0, 0.75]})
    record.dataset = {"sizes": {"test": 4}}
    assert "The test set has only 4 images: one image is 25.00 points" in " ".join(verdict(record, translator("en")))
    record.dataset = {"sizes": {"test": 1000}}
    assert "The test set has only" not in " ".join(verdict(record, translator("en")))


def test_without_a_cnn_row_the_answer_and_grid_table_say_the_question_stays_open():
    """Transfer rows alone cannot say whether transfer beats training from scratch: the answer and the grid table
    say so and how to fix it, instead of an empty 'vs cnn' column and silence."""
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    record = _grid_record({"a_probe": [0.90, 0.91, 0.92], "b_probe": [0.80, 0.82, 0.81]})
    assert "This run has no CNN trained from scratch" in " ".join(verdict(record, translator("en")))
    assert "añade cnn a --models" in " ".join(verdict(record, translator("es")))
    lines = grid_lines(record)
    assert not any("vs cnn (paired" in line for line in lines)
    assert "vs cnn: this run has no cnn row (add cnn to --models to compare with training from scratch)" in lines
    assert all(line == line.rstrip() for line in lines)
    with_cnn = _grid_record({"a_probe": [0.90, 0.91, 0.92], "cnn": [0.95, 0.96, 0.94]})
    assert "no CNN trained from scratch" not in " ".join(verdict(with_cnn, translator("en")))
    assert "vs cnn (paired, points)" in grid_lines(with_cnn)[1]
    assert not any(line.startswith("crossover") for line in grid_lines(with_cnn))  # one budget: said in the column
    modern = _grid_record({"a_probe": [0.90, 0.91, 0.92], "cnn_modern": [0.95, 0.96, 0.94]})
    assert "no CNN trained from scratch" not in " ".join(verdict(modern, translator("en")))  # it has a scratch CNN


def test_over_seeds_at_one_budget_the_report_plots_each_model_s_spread(tmp_path, monkeypatch):
    """With one label budget there is no budget curve, so several seeds get a figure of each model's mean, 95%
    interval and single seeds, on an axis that shows them apart; one seed or several budgets get none."""
    from transferbench import plots, reporting
    from transferbench.i18n import translator

    saved = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: saved.setdefault("fig", fig) and path)
    record = _grid_record({"a_probe": [0.90, 0.91, 0.92], "cnn": [0.95, 0.96, 0.94]})
    title, path, _ = reporting._seed_figure(tmp_path, record, translator("en"))
    assert path.name == "test_accuracy_seeds.png" and title.startswith("Test accuracy over seeds")
    ax = saved["fig"].axes[0]
    assert [tick.get_text() for tick in ax.get_yticklabels()] == ["a_probe", "cnn"]
    low, high = ax.get_xlim()
    assert 85 < low < 90 and 96 < high < 100  # zoomed to the seeds, not 0-100
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    assert sorted(round(x, 2) for line in dots for x in line.get_xdata()) == [90, 91, 92, 94, 95, 96]
    assert reporting._seed_figure(tmp_path, _grid_record({"cnn": [0.9]}, seeds=(1,)), translator("en")) is None
    record.grid["budgets"] = [100, "all"]
    assert reporting._seed_figure(tmp_path, record, translator("en")) is None


def test_the_curves_title_names_the_contrast_only_when_both_kinds_of_row_are_drawn():
    from transferbench.plots import curves_title_key

    frozen, scratch = RowResult(id="a", name="a", phase="frozen"), RowResult(id="cnn", name="cnn", phase="scratch")
    assert curves_title_key([frozen, scratch]) == "curves_title"
    assert curves_title_key([frozen]) == curves_title_key([scratch]) == "curves_title_plain"


def test_all_but_zero_features_are_called_guessing_only_for_rows_that_did_guess():
    """A standardising probe can learn from features of 1e-10 (MobileNetV3Small, random weights, 32 px: 92.5% on
    digits) while the frozen head on the same features guesses: the answer must not say both could only guess."""
    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    record = _grid_record({"m_probe": [0.925], "m": [0.1028], "cnn": [0.97]}, seeds=(1,))
    record.dataset["class_names"] = [str(digit) for digit in range(10)]
    for row in record.rows:
        row.phase = "frozen" if row.name == "m" else row.phase
        row.feature_max = None if row.name == "cnn" else 1.5e-10
    answer = " ".join(verdict(record, translator("en")))
    assert (
        "m: the backbone's pooled features are all but zero (largest 1.5e-10), so these heads could only guess"
        in answer
    )
    assert (
        "m_probe: the backbone's pooled features are all but zero (largest 1.5e-10), yet they still separate" in answer
    )
    assert "m_probe, m:" not in answer and "m, m_probe:" not in answer
    record.dataset.pop("class_names")  # a record without its classes: no chance level, the old wording for all
    assert "m_probe, m: the backbone's pooled features are all but zero" in " ".join(verdict(record, translator("en")))


def test_an_answer_whose_best_model_is_near_chance_says_nothing_learned_and_a_tie_is_said_once():
    """Three classes of noise images: every model scores 1 in 3. The answer must say no model learned, and a
    one-seed tie with the CNN must not also read "+0.00 points against cnn, cannot tell"."""
    from transferbench.i18n import translator
    from transferbench.verdict import chance, verdict

    record = _grid_record({"m_probe": [1 / 3], "cnn": [1 / 3]}, seeds=(1,))
    record.dataset["class_names"] = ["bird", "cat", "dog"]
    answer = " ".join(verdict(record, translator("en")))
    assert "That is near chance (33.33% for 3 classes): no model learned much" in answer
    assert answer.count("It ties with cnn") == 1 and "+0.00 points" not in answer
    assert "Eso está cerca del azar (33.33% con 3 clases)" in " ".join(verdict(record, translator("es")))
    learned = _grid_record({"m_probe": [0.49], "cnn": [0.51]}, seeds=(1,))  # 1.47x and 1.53x chance
    learned.dataset["class_names"] = ["bird", "cat", "dog"]
    assert chance(learned) is None and "near chance" not in " ".join(verdict(learned, translator("en")))
    learned.dataset.pop("class_names")  # no classes recorded: no chance level to compare with
    assert chance(learned) is None


def test_in_a_grid_of_sizes_the_answer_places_the_best_model_and_splits_a_model_s_flat_rows_by_size_and_seed():
    """The answer "Best: cnn" over two input sizes does not say at which; and "m_probe could only guess" next to
    "m_probe still separates the classes" contradicts itself unless each names its size and seeds."""
    import dataclasses

    from transferbench.i18n import translator
    from transferbench.verdict import verdict

    record = _grid_record({"m_probe": [0.10, 0.10, 0.10], "cnn": [0.97, 0.96, 0.98]})
    record.grid["input_sizes"] = [32, 64]
    record.dataset["class_names"] = [str(digit) for digit in range(10)]
    for row, accuracy in zip(list(record.rows), [0.10, 0.10, 0.81, 0.95, 0.95, 0.95]):
        record.rows.append(dataclasses.replace(row, id=row.id + "-64", input_size=64, test_accuracy=accuracy))
    for row in record.rows:
        row.feature_max = None if row.name == "cnn" else 1e-11
    record.statistics = stats.grid_statistics(record)
    answer = " ".join(verdict(record, translator("en")))
    assert answer.startswith("Best: cnn at 32 px, 97.00% test accuracy")
    assert "m_probe at 32 px, m_probe at 64 px (seeds 1, 2): the backbone's pooled features are all but zero" in answer
    assert "m_probe at 64 px (seed 3): the backbone's pooled features are all but zero (largest 1.0e-11), yet" in answer
    assert "m_probe a 64 px (semilla 3)" in " ".join(verdict(record, translator("es")))


def test_a_few_mistakes_get_a_narrow_figure_and_many_fill_rows_of_six(tmp_path, monkeypatch):
    from transferbench import plots

    saved = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: saved.append(fig))
    images, labels = np.zeros((20, 8, 8, 1), np.uint8), np.arange(20) % 2
    probabilities = np.tile([[0.3, 0.7]], (20, 1))
    for count in (2, 12):
        plots.image_grid(
            images, labels, probabilities, np.arange(count), ["a", "b"], "t", tmp_path / "g.png", lambda key, **_: key
        )
    (few, many) = [(len(fig.axes), fig.get_size_inches()[0]) for fig in saved]
    assert few[0] == 3 and many[0] == 12 and few[1] == pytest.approx(many[1] / 2)
