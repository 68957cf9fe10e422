"""The training-cost table: one row per configuration, each training counted once, from the records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fake_runs import write_run
from mmbench.records import load_records
from mmbench.report.cost import cost_rows, render_cost


def timing(train: float, evaluation: float, epoch: float) -> dict:
    return {"train_seconds": train, "eval_seconds": evaluation, "median_epoch_seconds": epoch}


def test_one_row_per_configuration_and_shared_trainings_counted_once(tmp_path: Path) -> None:
    values = {"recall@20": np.ones(3)}
    env = {"environment": {"torch_threads": 1}}
    write_run(tmp_path, "fast", 1, values, timing=timing(10, 2, 0.1), epochs_run=20, **env)
    write_run(tmp_path, "fast", 2, values, timing=timing(30, 4, 0.3), epochs_run=40, **env)
    # the same training as seed 1, recorded for a second protocol: not a second training
    write_run(tmp_path, "fast", 1, values, protocol="standard", timing=timing(10, 2, 0.1), epochs_run=20,
              selection_protocol="lattice", **env)
    write_run(tmp_path, "slow", 1, values, timing=timing(600, 60, 6.0), epochs_run=100, **env)
    write_run(tmp_path, "slow", 1, values, timing=timing(1, 1, 1.0), sweep={"param": "lr", "value": 1})
    rows = {row.label: row for row in cost_rows(load_records(tmp_path))}
    assert list(rows) == ["fast", "slow"]
    assert rows["fast"].runs == 2 and rows["fast"].train_seconds == pytest.approx(20.0)
    assert rows["fast"].epochs_run == pytest.approx(30.0) and rows["fast"].eval_seconds == pytest.approx(3.0)
    assert rows["slow"].runs == 1 and rows["slow"].median_epoch_seconds == pytest.approx(6.0)
    text = render_cost(load_records(tmp_path))
    assert "| slow " in text and "11 min 00 s" in text and "23 s" in text


def test_report_adds_the_cost_table_to_each_leaderboard(tmp_path: Path, run_main) -> None:
    write_run(tmp_path, "fast", 1, {"recall@20": np.ones(3), "ndcg@20": np.ones(3)}, timing=timing(10, 2, 0.1), epochs_run=20)
    assert run_main("report", "--results", str(tmp_path), "--no-plots").returncode == 0
    text = (tmp_path / "leaderboard_tiktok.md").read_text()
    assert "## Training cost" in text and "| fast " in text.split("## Training cost")[1]
