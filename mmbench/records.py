"""Run records on disk: one folder per run, every file written atomically.

Layout: ``<root>/runs/<dataset>/<model>/<run id>/`` with ``run.json`` (config, metrics, timing,
environment, dataset checksum; ``status`` is ``running`` until the run completes), ``history.csv``
(one row per validation), ``per_user_test.npz`` (per-user test metrics, for paired tests) and,
while a run can still be resumed, ``checkpoint.pt``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from mmbench import __version__
from mmbench.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from mmbench.evaluation.evaluator import EvalResult

logger = logging.getLogger("mmbench.records")

RUN_FILE = "run.json"
HISTORY_FILE = "history.csv"
PER_USER_FILE = "per_user_test.npz"
CHECKPOINT_FILE = "checkpoint.pt"


def environment(device: str) -> dict[str, Any]:
    """Versions and hardware that a result depends on."""
    import scipy
    import torch

    info = {
        "mmbench": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda"] = torch.version.cuda
    return info


def runs_root(results_root: Path) -> Path:
    return results_root / "runs"


def new_run_dir(results_root: Path, dataset: str, model: str, suffix: str) -> Path:
    """A fresh, unique run folder named ``<UTC time>-<suffix>``."""
    parent = runs_root(results_root) / dataset / model
    base = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{suffix}"
    candidate, n = parent / base, 1
    while candidate.exists():
        n += 1
        candidate = parent / f"{base}-{n}"
    candidate.mkdir(parents=True)
    return candidate


def find_resumable(
    results_root: Path, dataset: str, model: str, seed: int, config_digest: str, protocol: str
) -> Path | None:
    """The newest unfinished run (still marked running, or failed) with a checkpoint, of the same
    model, dataset, seed, config and selection protocol."""
    for run_dir, record in _records_newest_first(results_root, dataset, model):
        if (
            record.get("status") in ("running", "failed")
            and record.get("seed") == seed
            and record.get("config_digest") == config_digest
            and record.get("protocol") == protocol
            and (run_dir / CHECKPOINT_FILE).exists()
        ):
            return run_dir
    return None


def find_finished(
    results_root: Path,
    dataset: str,
    model: str,
    seed: int,
    config_digest: str,
    protocols: list[str],
    dataset_checksum: str | None,
) -> list[RunRecord] | None:
    """The newest finished records of this training, one per protocol, or None if any is missing.

    "This training" is the same model, seed, config and data, selected under ``protocols[0]``:
    training it again would give the same records, so ``--resume`` can skip it.
    """
    found: dict[str, RunRecord] = {}
    for run_dir, record in _records_newest_first(results_root, dataset, model):
        if (
            record.get("status") == "complete"
            and record.get("seed") == seed
            and record.get("config_digest") == config_digest
            and record.get("dataset_checksum") == dataset_checksum
            and record.get("selection_protocol") == protocols[0]
            and record.get("protocol") in protocols
            and "metrics" in record
        ):
            found.setdefault(record["protocol"], RunRecord(run_dir, record))
    if set(found) != set(protocols):
        return None
    return [found[protocol] for protocol in protocols]


def _records_newest_first(results_root: Path, dataset: str, model: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each readable ``run.json`` of one model on one dataset with its folder, newest run first."""
    parent = runs_root(results_root) / dataset / model
    if not parent.is_dir():
        return
    for run_dir in sorted(parent.iterdir(), reverse=True):
        record = _read_json(run_dir / RUN_FILE)
        if isinstance(record, dict):
            yield run_dir, record


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_run_json(run_dir: Path, record: dict[str, Any]) -> None:
    write_json_atomic(run_dir / RUN_FILE, record)


def write_history(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """The per-evaluation history as CSV (columns: the union of keys, in first-seen order)."""
    columns: list[str] = []
    for row in history:
        columns.extend(key for key in row if key not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(run_dir / HISTORY_FILE, buffer.getvalue())


def write_per_user(run_dir: Path, result: EvalResult) -> None:
    """Per-user test metrics, compressed: ``users`` plus one float32 array per metric key."""
    buffer = io.BytesIO()
    arrays = {key: np.asarray(values, dtype=np.float32) for key, values in result.per_user.items()}
    np.savez_compressed(buffer, users=result.users.astype(np.int64), **arrays)
    write_bytes_atomic(run_dir / PER_USER_FILE, buffer.getvalue())


@dataclass(frozen=True)
class RunRecord:
    """A completed run as read back from disk."""

    path: Path
    data: dict[str, Any]

    @property
    def model(self) -> str:
        return self.data["model"]

    @property
    def dataset(self) -> str:
        return self.data["dataset"]

    @property
    def protocol(self) -> str:
        return self.data["protocol"]

    def test_metric(self, key: str) -> float | None:
        return self.data.get("metrics", {}).get("test", {}).get(key)

    def per_user(self) -> dict[str, np.ndarray]:
        with np.load(self.path / PER_USER_FILE) as archive:
            return {key: archive[key] for key in archive.files}


def is_tuned(record: RunRecord) -> bool:
    """Whether a record trained a configuration found by tuning (``run --tuned``, ``tune-all``)."""
    return bool(record.data.get("tuned"))


def load_records(results_root: Path, dataset: str | None = None) -> list[RunRecord]:
    """Every completed run under ``results_root``; unreadable records are named and skipped, and so
    are, silently, runs still training or marked failed."""
    base = runs_root(results_root)
    pattern = f"{dataset}/*/*/{RUN_FILE}" if dataset else f"*/*/*/{RUN_FILE}"
    records = []
    for path in sorted(base.glob(pattern)):
        data = _read_json(path)
        if isinstance(data, dict) and data.get("status") in ("running", "failed"):
            continue
        if data is None or not {"model", "dataset", "protocol", "metrics"} <= set(data):
            logger.warning("skipping %s: not a readable run record", path)
            continue
        if data.get("status") != "complete":
            continue
        records.append(RunRecord(path.parent, data))
    return records
