"""``mmbench sweep`` through the real entry point on a tiny dataset, and its input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthetic import interaction_rows, tiny_dataset


@pytest.fixture
def small_folder(tmp_path: Path, write_mmrec) -> Path:
    dataset = tiny_dataset()
    return write_mmrec(tmp_path, "small", rows=interaction_rows(dataset), features=dict(dataset.features))


def test_sweep_writes_one_record_per_value_and_seed_then_feeds_the_sensitivity_plot(
    run_cli, run_main, small_folder: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    proc = run_cli(
        "sweep", "--model", "mf_bpr", "--param", "embedding_dim", "--values", "4,8", "--seeds", "1,2",
        "--dataset", str(small_folder), "--epochs", "2", "--protocol", "lattice", "--threads", "1",
        "--set", "batch_size=32", "--device", "cpu", "--results", str(results),
    )
    assert proc.returncode == 0, proc.stderr
    assert "mf_bpr [embedding_dim=4]" in proc.stdout and "mmbench plot sensitivity --model mf_bpr" in proc.stdout
    records = [json.loads(p.read_text()) for p in results.glob("runs/small/mf_bpr/*/run.json")]
    assert sorted((r["sweep"]["value"], r["seed"]) for r in records) == [(4, 1), (4, 2), (8, 1), (8, 2)]
    assert all(r["sweep"]["param"] == "embedding_dim" and r["config"]["embedding_dim"] == r["sweep"]["value"]
               and r["config"]["epochs"] == 2 and r["status"] == "complete" for r in records)

    hidden = run_main("leaderboard", "--results", str(results))
    assert hidden.returncode == 2 and "no completed runs" in hidden.stderr
    shown = run_main("leaderboard", "--results", str(results), "--include-sweeps", "--metrics", "recall@20")
    assert shown.returncode == 0 and "mf_bpr [embedding_dim=8]" in shown.stdout and "p (recall@20)" in shown.stdout
    plot = run_main("plot", "sensitivity", "--model", "mf_bpr", "--param", "embedding_dim", "--dataset", "small",
                    "--results", str(results))
    assert plot.returncode == 0, plot.stderr
    assert (results / "plots" / "sensitivity_mf_bpr_embedding_dim_small_lattice.png").stat().st_size > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "mf_bpt", "--param", "lr", "--values", "0.1"], "unknown model 'mf_bpt'; valid models: "),
        (["--model", "mf_bpr", "--param", "layers", "--values", "1,2"], "unknown config key 'layers' for MFBPRConfig"),
        (["--model", "mf_bpr", "--param", "lr", "--values", "0.1,fast"], "config key 'lr' expects a float, got 'fast'"),
        (["--model", "mf_bpr", "--param", "embedding_dim", "--values", "8,8.0"], "--values gives embedding_dim=8 twice"),
        (["--model", "mf_bpr", "--param", "lr", "--values", ","], "--values expects at least one value"),
        (["--model", "mf_bpr", "--param", "lr", "--values", "0.1", "--set", "lr=0.2"], "--param lr is also given"),
        (["--model", "mf_bpr", "--param", "lr", "--values", "0.1", "--threads", "0"], "--threads must be at least 1"),
    ],
)
def test_sweep_rejects_bad_input_with_one_line_and_trains_nothing(
    run_main, small_folder: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_main("sweep", "--dataset", str(small_folder), "--results", str(tmp_path / "r"), *args)
    assert result.returncode == 2
    assert result.stderr.startswith("mmbench: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert not (tmp_path / "r").exists()
