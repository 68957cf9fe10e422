"""Every ``mmbench plot`` kind and ``mmbench report``'s plots, from fake run records and a tiny study."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from fake_runs import write_run
from mmbench.records import load_records

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_written(stem: Path) -> None:
    png, svg = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")
    assert png.read_bytes().startswith(PNG_SIGNATURE) and png.stat().st_size > 10_000
    assert b"<svg" in svg.read_bytes()[:1000]
    assert not list(stem.parent.glob(".*.tmp"))


@pytest.fixture
def ablation_results(tmp_path: Path) -> Path:
    """mmssl on tiktok: the full model and two variants, 2 seeds each, under one protocol."""
    for seed in (1, 2):
        for variant, level in ((None, 0.6), ("w/o-CL", 0.5), ("w/o-audio", 0.4)):
            extra = {"variant": variant} if variant else {}
            values = np.full(20, level + seed / 100)
            write_run(tmp_path, "mmssl", seed, {"recall@20": values, "ndcg@20": values / 2}, **extra)
    return tmp_path


def test_ablation_figure_has_one_bar_group_per_variant_with_labels_and_legend(ablation_results: Path) -> None:
    from mmbench.report.ablation_plot import ablation_figure

    figure = ablation_figure(load_records(ablation_results))
    (ax,) = figure.axes
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["full\n(n=2)", "w/o-CL\n(n=2)", "w/o-audio\n(n=2)"]
    assert "mmssl ablation on tiktok (protocol lattice" in figure.get_suptitle()
    assert "mean ± std over seeds" in ax.get_ylabel()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["published (paper)", "recall@20 (ours)", "ndcg@20 (ours)"]
    heights = [patch.get_height() for patch in ax.patches]
    assert heights[:3] == pytest.approx([0.615, 0.515, 0.415])  # recall@20 means over seeds .01/.02
    # the paper's TikTok rows: full R@20 0.0921, w/o-CL 0.0821 (N@20 0.0392, 0.0351); w/o-audio has none
    from matplotlib.collections import PathCollection

    published = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if isinstance(c, PathCollection)])
    assert sorted(published.tolist()) == pytest.approx(sorted([0.0921, 0.0821, 0.0392, 0.0351]))
    assert "matplotlib.pyplot" not in sys.modules


def test_a_tuned_full_model_is_no_bar_of_its_ablation(ablation_results: Path) -> None:
    """Variants train the defaults less one part; the tuned model's runs stay out of the chart."""
    from mmbench.report.leaderboard import ablation_groups

    tuned = {"study": "mmssl-tiktok", "storage": "sqlite:///RESULTS/tuning.db", "trial": 3}
    write_run(ablation_results, "mmssl", 1, {"recall@20": np.full(20, 0.9), "ndcg@20": np.full(20, 0.45)}, tuned=tuned)
    from mmbench.report.plot_selection import ablation_records

    records = load_records(ablation_results)
    (group,) = ablation_groups(records).values()
    assert len(group) == 6 and not any(record.data.get("tuned") for record in group)
    assert sorted(r.path for r in ablation_records(records, "mmssl", "tiktok")) == sorted(r.path for r in group)


def test_plot_ablation_writes_png_and_svg(ablation_results: Path, run_main) -> None:
    result = run_main("plot", "ablation", "--model", "mmssl", "--dataset", "tiktok", "--results", str(ablation_results))
    assert result.returncode == 0, result.stderr
    assert_written(ablation_results / "plots" / "ablation_mmssl_tiktok_lattice")


def test_plot_ablation_without_variants_or_with_two_protocols_is_one_clear_error(tmp_path: Path, run_main) -> None:
    write_run(tmp_path, "mmssl", 1, {"recall@20": np.ones(5), "ndcg@20": np.ones(5)})
    none = run_main("plot", "ablation", "--model", "mmssl", "--dataset", "tiktok", "--results", str(tmp_path))
    assert none.returncode == 2 and "no ablation variants of mmssl on tiktok" in none.stderr
    assert none.stderr.count("\n") == 1
    write_run(tmp_path, "mmssl", 1, {"recall@20": np.ones(5), "ndcg@20": np.ones(5)}, protocol="standard", variant="w/o-CL")
    mixed = run_main("plot", "ablation", "--model", "mmssl", "--dataset", "tiktok", "--results", str(tmp_path))
    assert mixed.returncode == 2 and "choose one with --protocol" in mixed.stderr


def test_plot_curves_by_run_folders_and_by_model(tmp_path: Path, run_main) -> None:
    from mmbench.report.curves_plot import curves_figure

    runs = [write_run(tmp_path, model, seed, {"recall@20": np.ones(5)}, epochs=6)
            for model in ("lightgcn", "mf_bpr") for seed in (1, 2)]
    figure = curves_figure(runs)
    metric_ax, loss_ax = figure.axes
    assert metric_ax.get_xlabel() == "epoch" and "validation recall@20" in metric_ax.get_ylabel()
    assert "loss" in loss_ax.get_ylabel()
    assert [t.get_text() for t in figure.legends[0].get_texts()] == [
        "lightgcn, seed 1", "lightgcn, seed 2", "mf_bpr, seed 1", "mf_bpr, seed 2"
    ]
    by_dirs = run_main("plot", "curves", "--runs", str(runs[0].path), str(runs[3].path),
                       "--out", str(tmp_path / "out" / "curves"))
    assert by_dirs.returncode == 0, by_dirs.stderr
    assert_written(tmp_path / "out" / "curves")
    by_model = run_main("plot", "curves", "--models", "lightgcn", "--dataset", "tiktok", "--seeds", "2",
                        "--results", str(tmp_path))
    assert by_model.returncode == 0, by_model.stderr
    assert_written(tmp_path / "plots" / "curves_tiktok_lightgcn")
    missing = run_main("plot", "curves", "--runs", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "no readable run.json" in missing.stderr
    neither = run_main("plot", "curves", "--results", str(tmp_path))
    assert neither.returncode == 2 and "either --runs" in neither.stderr


def test_plot_sensitivity_orders_numeric_values_and_averages_seeds(tmp_path: Path, run_main) -> None:
    from mmbench.report.sensitivity_plot import sensitivity_figure

    for value, level in ((4, 0.3), (1, 0.1), (2, 0.2)):
        for seed in (1, 2):
            values = np.full(10, level + seed / 100)
            write_run(tmp_path, "lightgcn", seed, {"recall@20": values, "ndcg@20": values},
                      sweep={"param": "n_layers", "value": value})
    records = load_records(tmp_path)
    figure = sensitivity_figure(records, "n_layers")
    recall_ax, ndcg_ax = figure.axes
    (line,) = recall_ax.get_lines()[:1]
    assert list(line.get_xdata()) == [1, 2, 4]
    assert list(line.get_ydata()) == pytest.approx([0.115, 0.215, 0.315])
    assert recall_ax.get_xlabel() == "n_layers (n = number of seeds)" and recall_ax.get_ylabel() == "test recall@20 (0–1)"
    assert recall_ax.get_legend() is not None and "sensitivity to n_layers" in figure.get_suptitle()
    result = run_main("plot", "sensitivity", "--model", "lightgcn", "--param", "n_layers", "--dataset", "tiktok",
                      "--results", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert_written(tmp_path / "plots" / "sensitivity_lightgcn_n_layers_tiktok_lattice")
    unknown = run_main("plot", "sensitivity", "--model", "lightgcn", "--param", "lr", "--dataset", "tiktok",
                       "--results", str(tmp_path))
    assert unknown.returncode == 2 and "swept params of lightgcn: n_layers" in unknown.stderr


@pytest.fixture
def tuning_results(tmp_path: Path) -> Path:
    """A finished 8-trial study of two parameters in the default storage, ``results/tuning.db``."""
    import optuna

    from mmbench.tuning.storage import default_storage_url, default_study_name

    study = optuna.create_study(storage=default_storage_url(tmp_path), direction="maximize",
                                study_name=default_study_name("lightgcn", "tiktok"),
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_user_attr("mmbench", {"metric": "recall@20"})
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-2, log=True) * 10 - 0.001 * t.suggest_int("n_layers", 1, 4),
                   n_trials=8)
    return tmp_path


def test_tuning_figure_shows_history_best_so_far_and_importances(tuning_results: Path) -> None:
    import optuna

    from mmbench.report.tuning_plot import tuning_figure
    from mmbench.tuning.storage import default_storage_url

    study = optuna.load_study(study_name="lightgcn-tiktok", storage=default_storage_url(tuning_results))
    figure = tuning_figure(study)
    history_ax, importance_ax = figure.axes
    assert history_ax.get_ylabel() == "validation recall@20 (0–1)" and history_ax.get_xlabel() == "trial number"
    best_line = history_ax.get_lines()[0]
    assert best_line.get_ydata()[-1] == pytest.approx(study.best_value)
    assert [t.get_text() for t in history_ax.get_legend().get_texts()] == ["complete trial", "best so far"]
    assert {t.get_text() for t in importance_ax.get_yticklabels()} == {"lr", "n_layers"}


def test_tuning_figure_estimates_no_importances_from_fewer_trials_than_the_pruner_waits_for() -> None:
    """Optuna gives PED-ANOVA importances from two complete trials; they would only say how the
    better trial differs from the other, so the plot shows none below COMPARABLE_TRIALS."""
    import optuna

    from mmbench.report.tuning_plot import importances, tuning_figure
    from mmbench.tuning.study import COMPARABLE_TRIALS

    def objective(trial: optuna.Trial) -> float:
        return trial.suggest_float("lr", 1e-4, 1e-2, log=True) - 0.001 * trial.suggest_int("n_layers", 1, 4)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=COMPARABLE_TRIALS - 1)
    study.enqueue_trial({"lr": 1e-3, "n_layers": 2})
    pruned = study.ask()
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    assert importances(study) == {}
    history_ax, importance_ax = tuning_figure(study).axes
    assert "too few complete trials" in importance_ax.texts[0].get_text()
    assert all(float(tick).is_integer() for tick in history_ax.get_xticks())  # trial numbers, 0 to 3
    study.optimize(objective, n_trials=1)
    assert set(importances(study)) == {"lr", "n_layers"}


def test_tuning_figure_says_when_importances_fail_with_enough_trials() -> None:
    """Five complete trials without parameters give Optuna nothing to estimate; the panel must not
    blame the trial count."""
    import optuna

    from mmbench.report.tuning_plot import importances, tuning_figure
    from mmbench.tuning.study import COMPARABLE_TRIALS

    study = optuna.create_study(direction="maximize")
    study.optimize(lambda trial: 1.0, n_trials=COMPARABLE_TRIALS)
    assert importances(study) == {}
    _, importance_ax = tuning_figure(study).axes
    assert importance_ax.texts[0].get_text() == "importances could not be\nestimated from these trials"


def test_plot_tuning_reads_the_default_storage_and_names_missing_studies(tuning_results: Path, run_main) -> None:
    result = run_main("plot", "tuning", "--study", "lightgcn-tiktok", "--results", str(tuning_results))
    assert result.returncode == 0, result.stderr
    assert_written(tuning_results / "plots" / "tuning_lightgcn-tiktok")
    missing = run_main("plot", "tuning", "--study", "mmssl-tiktok", "--results", str(tuning_results))
    assert missing.returncode == 2 and "no study 'mmssl-tiktok'" in missing.stderr and "lightgcn-tiktok" in missing.stderr
    nowhere = run_main("plot", "tuning", "--study", "x", "--results", str(tuning_results / "none"))
    assert nowhere.returncode == 2 and "no study storage at" in nowhere.stderr
    (tuning_results / "plots" / "tuning_lightgcn-tiktok.png").unlink()
    write_run(tuning_results, "lightgcn", 1, {"recall@20": np.ones(5), "ndcg@20": np.ones(5)})
    report = run_main("report", "--results", str(tuning_results))
    assert report.returncode == 0, report.stderr
    assert_written(tuning_results / "plots" / "tuning_lightgcn-tiktok")


def test_plot_tuning_reads_a_journal_storage(tmp_path: Path, run_main) -> None:
    """``tune --storage journal:FILE`` keeps a study where Optuna's own URL parser cannot open it;
    ``plot tuning`` opens it the way ``tune`` does."""
    import optuna

    from mmbench.tuning.storage import open_storage

    url = f"journal:{tmp_path / 'studies.log'}"
    study = optuna.create_study(storage=open_storage(url), study_name="mf_bpr-lfm2k", direction="maximize")
    study.set_user_attr("mmbench", {"metric": "recall@20"})
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-2, log=True), n_trials=3)
    result = run_main("plot", "tuning", "--study", "mf_bpr-lfm2k", "--storage", url, "--results", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert_written(tmp_path / "plots" / "tuning_mf_bpr-lfm2k")


def test_report_draws_the_studies_of_a_storage_that_a_budget_file_names(tuning_results: Path, run_main) -> None:
    """``tune-all --storage sqlite:///results/tuning-tiktok.db`` keeps its studies outside
    ``tuning.db``; the budget file names that file, and the report draws its studies too."""
    from mmbench.tuning.budget import BudgetFile, TuningBudget, budget_path, write_budget

    (tuning_results / "tuning.db").rename(tuning_results / "tuning-tiktok.db")
    write_run(tuning_results, "lightgcn", 1, {"recall@20": np.ones(5), "ndcg@20": np.ones(5)})
    without = run_main("report", "--results", str(tuning_results))
    assert without.returncode == 0, without.stderr
    assert not (tuning_results / "plots" / "tuning_lightgcn-tiktok.png").exists()
    budget = BudgetFile("tiktok", "sqlite:///RESULTS/tuning-tiktok.db", TuningBudget(trials=8, epochs=5), {})
    write_budget(budget_path(tuning_results, "tiktok"), budget)
    report = run_main("report", "--results", str(tuning_results))
    assert report.returncode == 0, report.stderr
    assert_written(tuning_results / "plots" / "tuning_lightgcn-tiktok")


def test_report_writes_leaderboards_with_p_values_and_the_ablation_plot(ablation_results: Path, run_main, caplog) -> None:
    corrupt = ablation_results / "runs" / "tiktok" / "vbpr" / "broken"
    corrupt.mkdir(parents=True)
    (corrupt / "run.json").write_text("{ not json")
    write_run(ablation_results, "lightgcn", 1, {"recall@20": np.full(20, 0.3), "ndcg@20": np.full(20, 0.1)},
              sweep={"param": "n_layers", "value": 2})
    with caplog.at_level(logging.WARNING):
        result = run_main("report", "--results", str(ablation_results))
    assert result.returncode == 0, result.stderr
    assert f"skipping {corrupt / 'run.json'}" in caplog.text
    board = (ablation_results / "leaderboard_tiktok.md").read_text()
    assert "| mmssl [w/o-CL]" in board and "p (recall@20)" in board and "n_layers=2" not in board
    assert "Wilcoxon signed-rank test" in board
    assert_written(ablation_results / "plots" / "ablation_mmssl_tiktok_lattice")
    assert_written(ablation_results / "plots" / "sensitivity_lightgcn_n_layers_tiktok_lattice")
    assert_written(ablation_results / "plots" / "curves_tiktok_overview")
    reproduction = (ablation_results / "reproduction.md").read_text()
    main_tables, ablations = reproduction.split("## Ablations: mmssl on tiktok, protocol `lattice`")
    assert "w/o-CL" not in main_tables and "| w/o-CL" in ablations and "n_layers" not in reproduction
