"""The budget of ``mmbench tune-all`` and the file that states it: ``RESULTS/tuned/budget-DATASET.json``.

Every model tuned on one dataset gets the same :class:`TuningBudget`: the trials, the epoch cap,
the pruner, the sampler and its seed, the training seed of the trials and the keys fixed in every
trial. The budget file holds it with, per model, the space searched and, once its study is done,
what tuning cost (trials by state, their summed time) and the best trial, so that the report can
show the comparison's terms beside the tuned table without opening the Optuna storage.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmbench.atomic import write_json_atomic
from mmbench.errors import ConfigError
from mmbench.tuning.params import TUNED_DIR

BUDGET_ATTR = "mmbench_budget"  # study user attribute: the budget terms a tune-all study was made under


@dataclass(frozen=True)
class TuningBudget:
    """What every model of one ``tune-all`` gets. ``fixed`` holds ``KEY=VALUE`` texts set in
    every trial of every model (``patience=5``, say); ``sampler_seed`` seeds every study's sampler;
    ``defaults_trial`` gives every study one trial of its model's defaults besides the ``trials``
    drawn (:mod:`mmbench.tuning.defaults_trial`). A budget file written before that option
    existed reads as without it."""

    trials: int
    epochs: int
    pruner: str = "median"
    sampler: str = "tpe"
    sampler_seed: int = 0
    seed: int = 1
    fixed: tuple[str, ...] = ()
    defaults_trial: bool = False

    def check(self) -> None:
        """Refuse a budget that cannot run: counts below one, unknown sampler or pruner."""
        from mmbench.tuning.study import PRUNERS, SAMPLERS

        if self.trials < 1:
            raise ConfigError(f"--trials must be at least 1, got {self.trials}")
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {self.epochs}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r}; valid samplers: {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"unknown pruner {self.pruner!r}; valid pruners: {', '.join(PRUNERS)}")

    def terms(self) -> dict[str, Any]:
        """Everything but what a resumed budget may raise for every model: the trial count and the
        defaults trial."""
        terms = asdict(self)
        del terms["trials"], terms["defaults_trial"]
        terms["fixed"] = list(self.fixed)
        return terms

    def lowers(self, earlier: TuningBudget) -> str | None:
        """What this budget takes away from ``earlier`` (same terms), as the flag that restores it;
        None when it gives every model at least as much."""
        if earlier.trials > self.trials:
            return f"--trials {earlier.trials} or more"
        if earlier.defaults_trial and not self.defaults_trial:
            return "--defaults-trial"
        return None


@dataclass
class ModelTuning:
    """One model under the budget: its study, the space it searched (as the study describes it)
    and the trials it gets; after tuning, its trials by state, their summed duration in seconds and
    the best trial (``best_is_defaults``: it is the defaults trial)."""

    study: str
    space: dict[str, str]
    trials: int
    single_point: bool
    metric: str
    states: dict[str, int] = field(default_factory=dict)
    tuning_seconds: float | None = None
    best_trial: int | None = None
    valid_value: float | None = None
    best_is_defaults: bool = False


@dataclass
class BudgetFile:
    """The contents of ``budget-DATASET.json``."""

    dataset: str
    storage: str  # without a password
    budget: TuningBudget
    models: dict[str, ModelTuning]


def budget_path(results_root: Path, dataset_key: str) -> Path:
    """``RESULTS/tuned/budget-<dataset_key>.json`` (the key names non-default feature sets too)."""
    return Path(results_root) / TUNED_DIR / f"budget-{dataset_key}.json"


def write_budget(path: Path, document: BudgetFile) -> None:
    """Write ``document`` to ``path`` atomically, as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, asdict(document))


def read_budget(path: Path) -> BudgetFile | None:
    """The budget file at ``path``; None when there is none, a one-line ConfigError when it is not
    one that ``mmbench tune-all`` wrote."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as error:
        raise ConfigError(f"budget file {str(path)!r} is not valid JSON: {error}") from None
    try:
        budget = TuningBudget(**{**data["budget"], "fixed": tuple(data["budget"].get("fixed", ()))})
        models = {name: ModelTuning(**entry) for name, entry in data["models"].items()}
        return BudgetFile(data["dataset"], data["storage"], budget, models)
    except (KeyError, TypeError, AttributeError):
        raise ConfigError(f"{str(path)!r} is not a budget file written by `mmbench tune-all`") from None
