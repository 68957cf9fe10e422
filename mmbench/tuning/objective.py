"""The tuning objective: train one configuration, report validation as it goes, never touch test.

Each trial draws its parameters from the study's space, trains with the shared trainer built
without a test evaluator, reports the best validation value so far after every evaluation (so a
pruner can stop a poor trial early; never the defaults trial), and returns the best validation
value. A trial whose training diverges (NaN loss or scores) is pruned, not failed: it says
something about the parameters, not about the study.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
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

# what a worker shows while a trial trains: (trial number, epoch, best validation value so far)
EpochListener = Callable[[int, int, float], None]
# wraps each exchange with the storage during training (the worker holds Ctrl-C inside it)
StorageSection = Callable[[], AbstractContextManager[Any]]

SELECTION_PROTOCOL = "standard"  # every protocol masks the same items at validation


@dataclass
class Objective:
    """Callable Optuna objective for one model on one dataset."""

    model_class: type[RecModel]
    dataset: Dataset
    space: SearchSpace
    fixed: Mapping[str, Any]
    seed: int
    device: torch.device
    on_epoch: EpochListener | None = None
    storage_section: StorageSection = nullcontext
    ks: Sequence[int] = DEFAULT_KS

    def __call__(self, trial: Any) -> float:
        import optuna

        params = suggest(trial, self.space)
        prunable = not is_defaults_trial(trial)
        config = self.model_class.config_for(self.dataset.name, {**self.fixed, **params})
        key = f"valid_{config.metric}"
        best = -float("inf")

        def report(history: list[dict[str, Any]]) -> None:
            nonlocal best
            row = history[-1]
            best = max(best, row[key])
            with self.storage_section():
                trial.report(best, row["epoch"])
                if self.on_epoch is not None:
                    self.on_epoch(trial.number, row["epoch"], best)
                prune = prunable and trial.should_prune()
            if prune:
                raise optuna.TrialPruned(f"best {config.metric} {best:.4f} at epoch {row['epoch']}")

        seed_everything(self.seed)
        model = self.model_class(self.dataset.train_view(), config)
        trainer = Trainer(
            model, self.dataset, config, SELECTION_PROTOCOL, self.device, self.seed,
            on_evaluation=report, evaluate_test=False, ks=self.ks,
        )
        try:
            outcome = trainer.fit()
        except TrainingError as error:
            with self.storage_section():
                trial.set_user_attr("diverged", str(error))
            raise optuna.TrialPruned(f"diverged: {error}") from None
        with self.storage_section():
            trial.set_user_attr("best_epoch", outcome.best_epoch)
            trial.set_user_attr("epochs_run", outcome.epochs_run)
        return outcome.valid.metrics[config.metric]
