"""Run records on disk with chosen per-user metrics, for report and plot tests.

``write_run`` writes what a real run leaves (``run.json``, ``per_user_test.npz``,
``history.csv``) with the test metrics equal to the means of the given per-user values, so that
tables, p-values and plots can be checked against numbers computed by hand.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from mmbench.records import RunRecord


def write_run(
    results: Path,
    model: str,
    seed: int,
    per_user: Mapping[str, np.ndarray],
    users: np.ndarray | None = None,
    dataset: str = "tiktok",
    protocol: str = "lattice",
    epochs: int = 4,
    **extra: Any,
) -> RunRecord:
    """Write one complete run of ``model`` whose per-user test metrics are ``per_user``.

    ``users`` are the user ids of the values (default 0..n-1, in that order); ``extra`` keys go
    into ``run.json`` as they are (``variant``, ``sweep``, ``tuned``...).
    """
    n = len(next(iter(per_user.values())))
    users = np.arange(n) if users is None else np.asarray(users)
    parent = results / "runs" / dataset / model
    index = len(list(parent.iterdir())) if parent.exists() else 0
    run_dir = parent / f"run{index}-s{seed}-{protocol}"
    run_dir.mkdir(parents=True)
    test = {key: float(np.mean(values)) for key, values in per_user.items()}
    data = {
        "model": model, "dataset": dataset, "protocol": protocol, "selection_protocol": protocol,
        "seed": seed, "status": "complete", "config": {"lr": 0.001}, "best_epoch": epochs - 1,
        "metrics": {"valid": test, "test": test}, **extra,
    }
    (run_dir / "run.json").write_text(json.dumps(data))
    arrays = {key: np.asarray(values, dtype=np.float32) for key, values in per_user.items()}
    np.savez_compressed(run_dir / "per_user_test.npz", users=users.astype(np.int64), **arrays)
    with (run_dir / "history.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["epoch", "loss", "bpr", "valid_recall@20", "valid_ndcg@20"])
        for epoch in range(1, epochs + 1):
            writer.writerow([epoch, 0.7 / epoch, 0.69 / epoch, 0.02 * epoch + seed / 100, 0.01 * epoch])
    return RunRecord(run_dir, data)
