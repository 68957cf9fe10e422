"""The defaults trial: one trial of a study that trains the model's own defaults under the budget.

A search of a few random draws can miss a model's published defaults, and its "tuned" row would
then rest on a configuration the defaults beat on validation: the comparison would measure the
search's luck. With the defaults trial, a study also runs the model's default value of every key
it searches (the fixed keys, such as the epoch cap, stay as the budget sets them), so the best
trial is never one the defaults beat under the same terms. The pruner never stops it: it is the
floor the drawn trials are measured against, and a pruner that judges trials by their first epochs
stops defaults that start slowly and end ahead. It is enqueued as the study's next trial
when the study opens: trial 0 of a new study, the next one of a study started without it. It is
marked with the user attribute ``defaults``; a failed one is enqueued again on the next run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from mmbench.errors import ConfigError
from mmbench.search_space import Categorical, Param
from mmbench.tuning.states import LIVE

if TYPE_CHECKING:
    from mmbench.config import TrainConfig

DEFAULTS_ATTR = "defaults"  # trial user attribute: the trial trains the model's defaults


def defaults_params(config: TrainConfig, space: Mapping[str, Param], model: str) -> dict[str, Any]:
    """The value ``config`` (the model's defaults on the dataset, with the budget's fixed keys) holds
    for every key of ``space``; a default outside its range or choices is a one-line ConfigError."""
    params = {key: getattr(config, key) for key in space}
    for key, spec in space.items():
        value = params[key]
        inside = value in spec.choices if isinstance(spec, Categorical) else spec.low <= value <= spec.high
        if not inside:
            raise ConfigError(
                f"{model}: its default {key}={value!r} lies outside its search space; widen the space "
                "with --space, or tune without the defaults trial (--no-defaults-trial)"
            )
    return params


def has_defaults_trial(study: Any) -> bool:
    """Whether ``study`` holds a defaults trial that finished, runs or waits (a failed one does not count)."""
    return any(
        trial.user_attrs.get(DEFAULTS_ATTR) and trial.state.name in LIVE
        for trial in study.get_trials(deepcopy=False)
    )


def enqueue_defaults(study: Any, params: Mapping[str, Any]) -> bool:
    """Queue the defaults trial unless ``study`` already holds one; whether it was queued."""
    if has_defaults_trial(study):
        return False
    study.enqueue_trial(dict(params), user_attrs={DEFAULTS_ATTR: True})
    return True


def is_defaults_trial(trial: Any) -> bool:
    """Whether ``trial`` (frozen or running) is the defaults trial."""
    return bool(trial.user_attrs.get(DEFAULTS_ATTR))


def defaults_mark(trial: Any) -> str:
    """What trial lines add after the number of the defaults trial ("" for any other)."""
    return " (the model's defaults)" if is_defaults_trial(trial) else ""
