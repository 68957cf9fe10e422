"""The tuning objective: train one configuration, report validation as it goes, never touch test.

Each trial draws its parameters from the study's space, trains with the shared trainer built
without a test evaluator, reports the best validation value so far after every evaluation (so a
pruner can stop a poor trial early; never the defaults trial), and returns the best validation
value. A trial whose training diverges (NaN loss or scores) is pruned, not failed: it says
something about the parameters, not about the study. With a checkpoint folder, a trial trains
with a checkpoint there and a trial that resumes a stopped one starts from it
(:mod:`mmbench.tuning.resumable`); the checkpoint goes once the trial is complete or pruned.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from mmbench.data.dataset import Dataset
from mmbench.errors import TrainingError
from mmbench.config import DEFAULT_KS
from mmbench.models.base import RecModel
from mmbench.search_space import SearchSpace, suggest
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
from mmbench.tuning.defaults_trial import is_defaults_trial
from mmbench.tuning.resumable import RESUMED_ATTR, checkpoint_path, discard_checkpoint, origin_number

# what a worker shows while a trial trains: (trial number, epoch, best validation value so far)
EpochListener = Callable[[int, int, float], None]
# wraps each exchange with the storage during training (the worker holds Ctrl-C inside it)
StorageSection = Callable[[], AbstractContextManager[Any]]

SELECTION_PROTOCOL = "standard"  # every protocol masks the same items at validation


@dataclass
class Objective:
    """Callable Optuna objective for one model on one dataset; ``checkpoints`` is the study's
    folder of trial checkpoints (None: trials train without one and cannot be resumed)."""

    model_class: type[RecModel]
    dataset: Dataset
    space: SearchSpace
    fixed: Mapping[str, Any]
    seed: int
    device: torch.device
    on_epoch: EpochListener | None = None
    storage_section: StorageSection = nullcontext
    ks: Sequence[int] = DEFAULT_KS
    checkpoints: Path | None = None

    def __call__(self, trial: Any) -> float:
        import optuna

        params = suggest(trial, self.space)
        prunable = not is_defaults_trial(trial)
        config = self.model_class.config_for(self.dataset.name, {**self.fixed, **params})
        key = f"valid_{config.metric}"
        best = -float("inf")
        reported = 0  # rows of the history already reported; a resumed trial reports its past first

        def report(history: list[dict[str, Any]]) -> None:
            nonlocal best, reported
            row = history[-1]
            with self.storage_section():
                if reported == 0 and len(history) > 1:  # the rows before the last come from a checkpoint
                    trial.set_user_attr(RESUMED_ATTR, history[-2]["epoch"])
                for past in history[reported:]:
                    best = max(best, past[key])
                    trial.report(best, past["epoch"])
                reported = len(history)
                if self.on_epoch is not None:
                    self.on_epoch(trial.number, row["epoch"], best)
                prune = prunable and trial.should_prune()
            if prune:
                raise optuna.TrialPruned(f"best {config.metric} {best:.4f} at epoch {row['epoch']}")

        seed_everything(self.seed)
        model = self.model_class(self.dataset.train_view(), config)
        origin = origin_number(trial)  # one read of the stored trials for a running trial
        checkpoint = None if self.checkpoints is None else checkpoint_path(self.checkpoints, origin)
        resumes = origin != trial.number
        if not resumes:  # a folder left by a deleted study of the same name is not this trial's
            discard_checkpoint(checkpoint)
        if checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
        trainer = Trainer(
            model, self.dataset, config, SELECTION_PROTOCOL, self.device, self.seed,
            checkpoint_path=checkpoint, on_evaluation=report, evaluate_test=False, ks=self.ks,
        )
        try:
            outcome = trainer.fit(resume=resumes)
        except TrainingError as error:
            discard_checkpoint(checkpoint)
            with self.storage_section():
                trial.set_user_attr("diverged", str(error))
            raise optuna.TrialPruned(f"diverged: {error}") from None
        except optuna.TrialPruned:
            discard_checkpoint(checkpoint)
            raise
        discard_checkpoint(checkpoint)
        with self.storage_section():
            trial.set_user_attr("best_epoch", outcome.best_epoch)
            trial.set_user_attr("epochs_run", outcome.epochs_run)
        return outcome.valid.metrics[config.metric]
