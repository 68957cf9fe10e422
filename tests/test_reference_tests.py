"""Each model against LATTICE and LightGCN: differences of means and paired tests, from records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from fake_runs import write_run
from mmbench.records import load_records
from mmbench.report.reference_tests import render_reference_tests


def _row(text: str, label: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {label} "))


def test_each_model_gets_its_difference_and_paired_p_against_each_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = rng.random(200)
    better = np.clip(base + 0.2 * rng.random(200), 0, None)
    for seed in (1, 2):
        write_run(tmp_path, "lattice", seed, {"recall@20": base})
        write_run(tmp_path, "lightgcn", seed, {"recall@20": better})
        write_run(tmp_path, "newmodel", seed, {"recall@20": better})
    text = render_reference_tests(load_records(tmp_path))
    row = _row(text, "newmodel")
    expected_p = stats.wilcoxon(better, base).pvalue
    difference = float(np.mean(better) - np.mean(base))
    assert f"{difference:+.4f} (p {expected_p:.1e})" in row
    assert "+0.0000 (p 1.000)" in row  # identical to lightgcn: no evidence of a difference
    assert "| lattice " not in text and "| lightgcn " not in text  # references are columns, not rows


def test_variants_overrides_and_sweeps_are_left_out(tmp_path: Path) -> None:
    values = {"recall@20": np.linspace(0, 1, 20)}
    write_run(tmp_path, "lattice", 1, values)
    write_run(tmp_path, "newmodel", 1, values)
    write_run(tmp_path, "newmodel", 1, values, variant="w/o-x")
    write_run(tmp_path, "newmodel", 1, values, sweep={"param": "lr", "value": 1})
    write_run(tmp_path, "newmodel", 1, values, overrides={"lr": 0.01})
    write_run(tmp_path, "newmodel", 1, values, tuned=True)
    text = render_reference_tests(load_records(tmp_path))
    assert [line for line in text.splitlines() if line.startswith("| newmodel")] == [_row(text, "newmodel")]
    assert "lightgcn" not in text  # absent references get no column


def test_no_table_without_a_reference_or_without_another_model(tmp_path: Path) -> None:
    values = {"recall@20": np.linspace(0, 1, 20)}
    write_run(tmp_path, "newmodel", 1, values)
    assert render_reference_tests(load_records(tmp_path)) == ""
    write_run(tmp_path, "lattice", 1, values, dataset="lfm2k")
    assert render_reference_tests(load_records(tmp_path)) == ""


def test_report_puts_the_reference_tests_in_the_leaderboard(tmp_path: Path, run_main) -> None:
    values = {"recall@20": np.linspace(0, 1, 20), "ndcg@20": np.linspace(0, 1, 20)}
    write_run(tmp_path, "lightgcn", 1, values)
    write_run(tmp_path, "newmodel", 1, values)
    assert run_main("report", "--results", str(tmp_path), "--no-plots").returncode == 0
    text = (tmp_path / "leaderboard_tiktok.md").read_text()
    section = text.split("## Against the references: lattice and lightgcn")[1]
    assert "| newmodel " in section and "minus lightgcn" in section
