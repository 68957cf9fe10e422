"""A sampler whose random draws are seeded by the trial's number, not by the process that runs it.

Several processes can serve one study: the workers of ``--workers``/``--gpus``, or the same
command started on several machines against one database. Were each process's sampler seeded
once, two processes that opened the study at the same point would draw the same values trial for
trial. :class:`TrialSeededSampler` builds a fresh inner sampler before every trial, seeded from the
study's seed and the trial's number, so every trial number draws its own values whichever process
runs it, and a study re-run from the same state draws the same values again. Optuna's samplers
read the finished trials from the study itself, so a fresh inner sampler per trial loses nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState


def trial_seed(seed: int, number: int) -> int:
    """The inner sampler's seed for trial ``number`` of a study seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0])


class TrialSeededSampler(BaseSampler):
    """Delegates to ``make(trial_seed(seed, trial.number))``, built anew before each trial."""

    def __init__(self, make: Callable[[int], BaseSampler], seed: int) -> None:
        self._make = make
        self._seed = seed
        self._inner = make(seed)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._inner = self._make(trial_seed(self._seed, trial.number))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._inner.after_trial(study, trial, state, values)
