"""The tuned part of the leaderboard and the cost figure, from fake run records and a budget file:
the budget and the search spaces beside the tuned table, tuned against defaults, what tuning cost,
what survives tuning, and a cost figure drawn from the records alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fake_runs import write_run
from mmbench.records import load_records
from mmbench.report.cost import CostPoint, cost_points, cost_protocol
from mmbench.report.cost_plot import cost_figure
from mmbench.report.tuning_comparison import shown_records, survival
from mmbench.tuning.budget import BudgetFile, ModelTuning, TuningBudget, budget_path, read_budget, write_budget

USERS = 40


def hits(n: int) -> dict[str, np.ndarray]:
    """Per-user recall@20 and ndcg@20 of a run that hits the first ``n`` users."""
    values = np.r_[np.ones(n), np.zeros(USERS - n)]
    return {"recall@20": values, "ndcg@20": values / 2}


def timing(seconds: float) -> dict:
    return {"train_seconds": seconds * 0.9, "eval_seconds": seconds * 0.1, "median_epoch_seconds": 1.0}


def tuned(model: str, trial: int, storage: str = "sqlite:///x.db") -> dict:
    return {"study": f"{model}-tiktok", "storage": storage, "params_file": f"tuned/{model}-tiktok.json",
            "trial": trial, "valid_value": 0.5}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Model a leads on defaults, b once both are tuned; a's earlier best trial left one stale run,
    and c was tuned outside the budget; d is tuned to the budget but not trained, e still tuning."""
    for seed in (1, 2):
        write_run(tmp_path, "a", seed, hits(20), timing=timing(100 * seed))
        write_run(tmp_path, "b", seed, hits(12), timing=timing(10))
        write_run(tmp_path, "a", seed, hits(16), timing=timing(200), tuned=tuned("a", 3))
        write_run(tmp_path, "b", seed, hits(24), timing=timing(20), tuned=tuned("b", 0))
    write_run(tmp_path, "a", 1, hits(39), timing=timing(1), tuned=tuned("a", 1))  # an earlier best trial
    write_run(tmp_path, "c", 1, hits(38), timing=timing(1), tuned=tuned("c", 0, "sqlite:///elsewhere.db"))
    write_budget(budget_path(tmp_path, "tiktok"), BudgetFile(
        "tiktok", "sqlite:///x.db", TuningBudget(20, 40, fixed=("patience=5",), defaults_trial=True), {
            "a": ModelTuning("a-tiktok", {"lr": "[0.0001, 0.01] log"}, 20, False, "recall@20",
                             {"COMPLETE": 18, "PRUNED": 2}, 3723.0, 3, 0.5),
            "b": ModelTuning("b-tiktok", {"dim": "{64}"}, 1, True, "recall@20", {"COMPLETE": 1}, 61.0, 0, 0.4),
            "d": ModelTuning("d-tiktok", {"lr": "[0.0001, 0.01] log"}, 21, False, "recall@20",
                             {"COMPLETE": 16, "PRUNED": 5}, 900.0, 0, 0.3, best_is_defaults=True),
            "e": ModelTuning("e-tiktok", {"lr": "[0.0001, 0.01] log"}, 20, False, "recall@20",
                             {"COMPLETE": 3, "FAIL": 1}, 300.0, 1, 0.2),
        },
    ))
    return tmp_path


def test_the_cost_points_come_from_the_records_alone(results: Path) -> None:
    records = load_records(results)
    shown, left_out = shown_records(records, None)
    assert left_out == []  # without a budget, every tuned run is shown
    shown, left_out = shown_records(records, read_budget(budget_path(results, "tiktok")))
    assert sorted(r.model for r in left_out) == ["a", "c"] and cost_protocol(shown) == "lattice"
    points = cost_points(shown, "lattice")
    assert points == [
        CostPoint("a", False, 2, pytest.approx(150.0), pytest.approx(0.5)),
        CostPoint("a", True, 2, pytest.approx(200.0), pytest.approx(0.4)),
        CostPoint("b", False, 2, pytest.approx(10.0), pytest.approx(0.3)),
        CostPoint("b", True, 2, pytest.approx(20.0), pytest.approx(0.6)),
    ]
    figure = cost_figure(points, "tiktok", "lattice", "recall@20")
    (ax,) = figure.axes
    arrows = [text for text in ax.texts if text.arrow_patch is not None]
    assert len(arrows) == 2 and sorted(text.get_text() for text in ax.texts) == ["", "", "a", "b"]
    assert ax.get_xscale() == "log"


def test_what_survives_tuning_names_the_reversed_pair_with_its_paired_test(results: Path) -> None:
    shown, _ = shown_records(load_records(results), read_budget(budget_path(results, "tiktok")))
    found = survival(shown, "lattice", "recall@20")
    assert (found.best_default, found.best_tuned) == ("a", "b")
    (change,) = found.changes
    assert (change.ahead, change.behind) == ("a", "b")
    assert change.default == pytest.approx((0.5, 0.3)) and change.tuned == pytest.approx((0.4, 0.6))
    assert change.p_tuned is not None and change.p_tuned.n_users == USERS and change.p_tuned.p_value < 0.05


def test_the_leaderboard_shows_the_budget_beside_the_tuned_table(results: Path, run_main) -> None:
    report = run_main("report", "--results", str(results))
    assert report.returncode == 0, report.stderr
    assert not (results / "tuning.db").exists()
    for suffix in ("png", "svg"):
        assert (results / "plots" / f"cost_tiktok.{suffix}").stat().st_size > 0
    text = (results / "leaderboard_tiktok.md").read_text()
    defaults, tuned_part = text.split("## Tuned: every model with one budget")
    tuned_part, cost = tuned_part.split("## Training cost")
    assert "| a " in defaults and "(tuned)" not in defaults
    for fragment in (
        "[`tuned/budget-tiktok.json`](tuned/budget-tiktok.json): 20 trials per model drawn by the sampler, "
        "plus one trial of the model's own defaults that the pruner never stops (so no tuned row",
        "under the same terms); one trial for a model whose search space is a single point; each trial at most 40",
        "| d       | 21 (16 complete, 5 pruned); best: the defaults ",
        "each trial at most 40 epochs", "pruner `median`, sampler `tpe` with seed 0",
        "fixed in every trial: patience=5",
        "| a       | 20 (18 complete, 2 pruned) ", "| lr in [0.0001, 0.01] log",
        "single point (dim in {64}), one trial",
        "Not shown: the tuned runs of c made outside this budget",
        "Not shown: 1 tuned run record(s) of an earlier best trial",
        "Tuned under the budget but not trained yet: d (", "Not tuned to the budget yet: e (",
        "| e       | 20 (3 complete, 1 failed) **unfinished**",
        "| b (tuned) |", "| `lattice`  | b       | 0.3000 ± 0.0000",
        "+0.3000", "1 h 02 min", "1 min 01 s",
        "best on defaults **a**, best tuned **b** (a different model). 1 pair(s) change order",
        "| a > b", "0.5000 > 0.3000", "0.4000 < 0.6000",
    ):
        assert fragment in tuned_part, fragment
    assert "![test recall@20 against the time of one run, defaults to tuned](plots/cost_tiktok.png)" in cost
    assert "0.9750" not in text and "0.9500" not in text  # nor do the left-out runs' values
    reproduction = (results / "reproduction.md").read_text()
    assert "0.4000" in reproduction  # a's tuned row, of its study's best trial only
    assert "0.9750" not in reproduction and "0.9500" not in reproduction


def test_the_leaderboard_command_shows_only_the_budgets_current_tuned_runs(results: Path, run_main) -> None:
    board = run_main("leaderboard", "--results", str(results), "--protocol", "lattice", "--test", "none")
    assert board.returncode == 0, board.stderr
    assert "| a (tuned) " in board.stdout and "0.4000" in board.stdout
    assert "c (tuned)" not in board.stdout  # tuned outside the budget
    assert "0.9750" not in board.stdout and "0.9500" not in board.stdout  # nor mixed into a's row
    assert "left out 2 tuned run(s)" in board.stderr and "--ignore-budget" in board.stderr
    everything = run_main("leaderboard", "--results", str(results), "--protocol", "lattice", "--test", "none",
                          "--ignore-budget")
    assert everything.returncode == 0 and "c (tuned)" in everything.stdout and "left out" not in everything.stderr
