"""Opening a study: the sampler and pruner named on the command line, and a check that a resumed
study is the same experiment (model, dataset, fixed keys, seed) as the command that resumes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from mmbench.errors import ConfigError
from mmbench.search_space import SearchSpace, describe
from mmbench.tuning import space as spaces

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
SETUP_ATTR = "mmbench"  # study user attribute holding the StudySetup


@dataclass(frozen=True)
class StudySetup:
    """What defines a study's experiment; stored with the study and checked on every resume."""

    model: str
    dataset: str
    metric: str
    seed: int
    fixed: dict[str, Any]
    space: dict[str, str]


def make_sampler(name: str, space: SearchSpace, seed: int | None = None) -> Any:
    """The Optuna sampler called ``name``; unseeded when ``seed`` is None.

    A seeded sampler draws each trial's values from ``seed`` and the trial's number
    (:class:`~mmbench.tuning.trial_seeded.TrialSeededSampler`), so processes that share a study
    never repeat each other's draws and a re-run from the same study state draws the same values.
    """
    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}")
    if seed is None:
        return _plain_sampler(name, space, None)
    from mmbench.tuning.trial_seeded import TrialSeededSampler

    return TrialSeededSampler(lambda trial_seed: _plain_sampler(name, space, trial_seed), seed)


def _plain_sampler(name: str, space: SearchSpace, seed: int | None) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.GridSampler(spaces.grid(space), seed=seed)


# finished trials a study needs before mmbench compares a trial with the others: the median
# pruner's start-up, and the fewest complete trials a tuning plot estimates importances from
COMPARABLE_TRIALS = 5


def make_pruner(name: str) -> Any:
    """The Optuna pruner called ``name``; steps are epochs."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=COMPARABLE_TRIALS, n_warmup_steps=5)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=5)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"unknown pruner {name!r}; valid pruners: {', '.join(PRUNERS)}")


def open_study(storage: Any, name: str, setup: StudySetup, sampler: Any, pruner: Any) -> Any:
    """Create the study ``name`` or resume it; a resumed study must have the same setup."""
    import optuna

    study = optuna.create_study(
        storage=storage, study_name=name, direction="maximize", sampler=sampler, pruner=pruner,
        load_if_exists=True,
    )
    if SETUP_ATTR not in study.user_attrs:
        study.set_user_attr(SETUP_ATTR, asdict(setup))
    check_setup(study, setup)
    return study


def check_setup(study: Any, setup: StudySetup, remedy: str = "name a new study with --study") -> None:
    """Refuse to resume ``study`` with a setup other than the one it was started with (a study
    without a stored setup passes); the message ends with ``remedy``."""
    wanted = asdict(setup)
    stored = study.user_attrs.get(SETUP_ATTR)
    if stored is not None and stored != wanted:
        changed = ", ".join(key for key in wanted if stored.get(key) != wanted[key])
        raise ConfigError(
            f"study {study.study_name!r} was started with a different {changed} ({_show(stored, changed)}); "
            f"re-run it with the same settings, or {remedy}"
        )


def stored_setup(study: Any) -> StudySetup:
    """The setup a study was started with; a study not made by ``mmbench tune`` is an error."""
    stored = study.user_attrs.get(SETUP_ATTR)
    if not isinstance(stored, dict):
        raise ConfigError(f"study {study.study_name!r} was not created by `mmbench tune`")
    return StudySetup(**stored)


def setup_for(model: str, dataset: str, metric: str, seed: int, fixed: Mapping[str, Any], space: SearchSpace) -> StudySetup:
    """The setup of a command line, in the JSON-ready form a study stores."""
    return StudySetup(model, dataset, metric, seed, dict(fixed), describe(space))


def _show(stored: Mapping[str, Any], keys: str) -> str:
    return "; ".join(f"{key}: {stored.get(key)!r}" for key in keys.split(", "))
