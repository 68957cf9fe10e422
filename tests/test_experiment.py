"""run_model end to end in-process: records, resume of an interrupted or finished run, corrupt records skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from baselines.mf_bpr import MFBPR
from mmbench.experiment import run_model
from mmbench.models.base import BprBatch
from mmbench.models.registry import ModelRegistry
from mmbench.records import PER_USER_FILE, load_records
from synthetic import tiny_dataset


class Crash(Exception):
    pass


class CrashingMF(MFBPR):
    """MF-BPR that raises after a set number of optimisation steps (None: never)."""

    steps_before_crash: int | None = None
    crash_with: type[BaseException] = Crash

    def train_step(self, batch: BprBatch, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        if CrashingMF.steps_before_crash is not None:
            if CrashingMF.steps_before_crash == 0:
                raise CrashingMF.crash_with
            CrashingMF.steps_before_crash -= 1
        return super().train_step(batch, optimizer)


ModelRegistry().add(CrashingMF, "crashing_mf")


def run(dataset, root: Path, resume: bool = False):
    overrides = {"epochs": "5", "batch_size": "30", "patience": "0"}
    return run_model(CrashingMF, dataset, 3, ["lattice"], overrides, torch.device("cpu"), root, resume=resume)


def test_resume_finishes_a_failed_run_with_the_uninterrupted_result(tmp_path: Path, monkeypatch) -> None:
    dataset = tiny_dataset()
    (reference,) = run(dataset, tmp_path / "reference")

    # 4 batches per epoch (120 training pairs / 30): crash in epoch 3, after two checkpoints
    monkeypatch.setattr(CrashingMF, "steps_before_crash", 9)
    with pytest.raises(Crash):
        run(dataset, tmp_path / "resumed")
    (unfinished,) = (tmp_path / "resumed").glob("runs/*/*/*")
    record = json.loads((unfinished / "run.json").read_text())
    assert record["status"] == "failed" and record["error"] == "Crash"
    assert (unfinished / "checkpoint.pt").exists()
    checkpoint = torch.load(unfinished / "checkpoint.pt", weights_only=False)
    assert checkpoint["loop"].best_state is None  # one copy of the model per checkpoint
    assert set(torch.load(unfinished / "best.pt", weights_only=False)) == set(checkpoint["model"])
    assert load_records(tmp_path / "resumed") == []

    monkeypatch.setattr(CrashingMF, "steps_before_crash", None)
    (resumed,) = run(dataset, tmp_path / "resumed", resume=True)
    assert resumed.path == unfinished
    assert resumed.data["metrics"] == reference.data["metrics"]
    assert not (unfinished / "checkpoint.pt").exists() and not (unfinished / "best.pt").exists()


@pytest.mark.parametrize(
    "steps, status", [(2, "failed"), (9, "running")], ids=["before-first-checkpoint", "after-a-checkpoint"]
)
def test_ctrl_c_fails_the_record_only_when_there_is_no_checkpoint_to_resume(
    tmp_path: Path, monkeypatch, steps: int, status: str
) -> None:
    monkeypatch.setattr(CrashingMF, "steps_before_crash", steps)
    monkeypatch.setattr(CrashingMF, "crash_with", KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        run(tiny_dataset(), tmp_path)
    (unfinished,) = tmp_path.glob("runs/*/*/*")
    record = json.loads((unfinished / "run.json").read_text())
    assert record["status"] == status
    assert (record.get("error") == "interrupted before its first checkpoint") == (status == "failed")


def test_a_trainer_that_refuses_its_setup_fails_the_record(tmp_path: Path) -> None:
    """The trainer refuses protocols that select differently (NDCG's normalisation differs between
    lattice and standard); the run folder exists by then, so its record says failed, with why."""
    from mmbench.errors import ConfigError

    overrides = {"epochs": "1", "metric": "ndcg@20"}
    with pytest.raises(ConfigError, match="selection metric"):
        run_model(CrashingMF, tiny_dataset(), 3, ["lattice", "standard"], overrides, torch.device("cpu"), tmp_path)
    (unfinished,) = tmp_path.glob("runs/*/*/*")
    record = json.loads((unfinished / "run.json").read_text())
    assert record["status"] == "failed" and "selection metric" in record["error"]


def test_one_training_under_two_protocols_writes_a_record_per_protocol(tmp_path: Path) -> None:
    dataset = tiny_dataset()
    overrides = {"epochs": "3", "batch_size": "30", "patience": "0"}
    records = run_model(
        CrashingMF, dataset, 3, ["lattice", "standard"], overrides, torch.device("cpu"), tmp_path / "both"
    )
    folders = sorted(r.path.name for r in records)
    assert [r.protocol for r in records] == ["lattice", "standard"]
    assert len(set(folders)) == 2 and all(r.data["trained_with"] == folders for r in records)
    assert records[0].data["selection_protocol"] == records[1].data["selection_protocol"] == "lattice"
    for record in records:
        assert (record.path / PER_USER_FILE).exists()
        assert not (record.path / "checkpoint.pt").exists()
        (alone,) = run_model(
            CrashingMF, dataset, 3, [record.protocol], overrides, torch.device("cpu"), tmp_path / record.protocol
        )
        assert "trained_with" not in alone.data
        assert alone.data["metrics"]["test"] == record.data["metrics"]["test"]


def test_resume_skips_a_finished_training_and_a_plain_run_trains_again(tmp_path: Path) -> None:
    dataset = tiny_dataset()
    (first,) = run(dataset, tmp_path)
    (again,) = run(dataset, tmp_path, resume=True)
    assert again.path == first.path
    assert len(list(tmp_path.glob("runs/*/*/*"))) == 1

    (fresh,) = run(dataset, tmp_path)
    assert fresh.path != first.path
    assert fresh.data["metrics"] == first.data["metrics"]


def test_resume_trains_when_a_protocol_or_the_config_has_no_finished_record(tmp_path: Path) -> None:
    dataset = tiny_dataset()
    run(dataset, tmp_path)
    overrides = {"epochs": "5", "batch_size": "30", "patience": "0"}
    both = run_model(
        CrashingMF, dataset, 3, ["lattice", "standard"], overrides, torch.device("cpu"), tmp_path, resume=True
    )
    assert [r.protocol for r in both] == ["lattice", "standard"]
    assert len(list(tmp_path.glob("runs/*/*/*"))) == 3
    other = run_model(
        CrashingMF, dataset, 3, ["lattice"], {**overrides, "epochs": "4"}, torch.device("cpu"), tmp_path,
        resume=True,
    )
    assert other[0].data["config"]["epochs"] == 4
    assert len(list(tmp_path.glob("runs/*/*/*"))) == 4


def test_unreadable_records_are_named_and_skipped(tmp_path: Path, caplog) -> None:
    dataset = tiny_dataset()
    (good,) = run(dataset, tmp_path)
    broken = tmp_path / "runs" / "unnamed" / "mf_bpr" / "broken-run"
    broken.mkdir(parents=True)
    (broken / "run.json").write_text("{not json")
    records = load_records(tmp_path)
    assert [r.path for r in records] == [good.path]
    assert "broken-run" in caplog.text


def test_a_model_that_refuses_the_dataset_leaves_no_run_folder(tmp_path) -> None:
    import dataclasses

    import torch

    from mmbench.errors import ConfigError
    from mmbench.experiment import run_model
    from mmbench.models import default_registry
    from synthetic import tiny_dataset

    bare = dataclasses.replace(tiny_dataset(), features={})
    with pytest.raises(ConfigError, match="needs item features"):
        run_model(default_registry().get("vbpr"), bare, 1, ["standard"], {}, torch.device("cpu"), tmp_path)
    assert not (tmp_path / "runs").exists()
