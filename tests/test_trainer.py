"""The shared trainer: early stopping, best-state restore, NaN handling, resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from baselines.mf_bpr import MFBPR, MFBPRConfig
from mmbench.errors import TrainingError
from mmbench.models.registry import default_registry
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
from synthetic import tiny_dataset


def make_trainer(config: MFBPRConfig, seed: int = 0, checkpoint: Path | None = None, **kwargs) -> Trainer:
    dataset = tiny_dataset()
    seed_everything(seed)
    model = MFBPR(dataset.train_view(), config)
    return Trainer(model, dataset, config, "standard", torch.device("cpu"), seed, checkpoint, **kwargs)


def test_early_stopping_after_patience_and_best_epoch_restored() -> None:
    config = MFBPRConfig(epochs=200, batch_size=32, lr=0.05, patience=3)
    outcome = make_trainer(config).fit()
    assert outcome.stopped_early
    values = [row["valid_recall@20"] for row in outcome.history]
    best = max(values)
    assert outcome.best_epoch == outcome.history[values.index(best)]["epoch"]
    assert outcome.epochs_run == outcome.history[-1]["epoch"]
    assert all(v <= best for v in values[values.index(best) + 1 :])
    assert len(values) - 1 - values.index(best) == 3
    assert outcome.valid.metrics["recall@20"] == pytest.approx(best)


def test_eval_every_controls_validation_epochs() -> None:
    outcome = make_trainer(MFBPRConfig(epochs=7, batch_size=32, eval_every=3, patience=0)).fit()
    assert [row["epoch"] for row in outcome.history] == [3, 6, 7]


def test_nan_loss_stops_with_the_epoch_named() -> None:
    trainer = make_trainer(MFBPRConfig(epochs=3, batch_size=32))
    with torch.no_grad():
        trainer.model.user_embedding.weight[0] = float("nan")
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1 \(batch 1 of"):
        trainer.fit()


class LossTurnsNaN(MFBPR):
    """MF-BPR whose loss becomes NaN from its ``nan_from``-th batch on (counted from 1)."""

    nan_from = 3

    def loss(self, batch):
        parts = super().loss(batch)
        self.batches = getattr(self, "batches", 0) + 1
        if self.batches >= self.nan_from:
            parts["loss"] = parts["loss"] * float("nan")
        return parts


def test_the_first_nan_batch_is_named_though_losses_are_read_once_per_epoch() -> None:
    config = MFBPRConfig(epochs=3, batch_size=16)
    dataset = tiny_dataset()
    model = LossTurnsNaN(dataset.train_view(), config)
    trainer = Trainer(model, dataset, config, "standard", torch.device("cpu"), 0)
    with pytest.raises(TrainingError, match=r"loss became nan at epoch 1 \(batch 3 of 8\)"):
        trainer.fit()


def test_train_step_hands_back_device_tensors_not_floats() -> None:
    config = MFBPRConfig(batch_size=16)
    dataset = tiny_dataset()
    model = MFBPR(dataset.train_view(), config)
    trainer = Trainer(model, dataset, config, "standard", torch.device("cpu"), 0)
    users, pos, neg = next(iter(trainer.sampler.epoch()))
    parts = model.train_step(trainer._batch(users, pos, neg), trainer.optimizer)
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in parts.values())


class Interrupt(Exception):
    pass


def test_resume_continues_exactly_where_the_run_stopped(tmp_path: Path) -> None:
    config = MFBPRConfig(epochs=6, batch_size=32, patience=0)
    reference = make_trainer(config).fit()

    def stop_after_epoch_3(history: list[dict]) -> None:
        if history[-1]["epoch"] == 3:
            raise Interrupt

    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(Interrupt):
        make_trainer(config, checkpoint=checkpoint, on_evaluation=stop_after_epoch_3).fit()
    resumed = make_trainer(config, checkpoint=checkpoint).fit(resume=True)
    assert [row["epoch"] for row in resumed.history] == list(range(1, 7))
    assert resumed.test.metrics == reference.test.metrics
    assert [r["loss"] for r in resumed.history] == pytest.approx([r["loss"] for r in reference.history])


def test_zero_epochs_is_rejected_by_the_config() -> None:
    from mmbench.errors import ConfigError

    with pytest.raises(ConfigError):
        dataclasses.replace(MFBPRConfig(), epochs=0)


@pytest.mark.parametrize("name", default_registry().names())
@pytest.mark.filterwarnings("ignore:.*copying from a non-meta parameter")
def test_a_cpu_checkpoint_restores_onto_another_device(name: str, tmp_path) -> None:
    """The restore path does not depend on the run's device: a CPU checkpoint loads into a model on
    ``meta`` (the random-generator states stay CPU tensors; MMSSL's graphs are rebuilt from CPU data)."""
    dataset = tiny_dataset(audio_dim=5)
    cls = default_registry().get(name)
    config = cls.config_for("tiny", {"epochs": "1", "batch_size": "16"})
    checkpoint = tmp_path / "checkpoint.pt"
    Trainer(cls(dataset.train_view(), config), dataset, config, "standard", torch.device("cpu"), 1, checkpoint).fit()
    on_meta = Trainer(cls(dataset.train_view(), config), dataset, config, "standard", torch.device("meta"), 1, checkpoint)
    state = on_meta._load_checkpoint()
    assert state.epoch == 1
    assert all(p.device.type == "meta" for p in on_meta.model.parameters())
