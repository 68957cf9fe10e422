"""What ``mmbench tune`` prints about a study, and its best trial as tuned parameters."""

from __future__ import annotations

from typing import Any

from mmbench.errors import ConfigError
from mmbench.tuning.resumable import carried_on_numbers, trial_marks
from mmbench.tuning.params import TunedParams
from mmbench.tuning.storage import public_url
from mmbench.tuning.states import LABELS
from mmbench.tuning.study import stored_setup
from mmbench.tuning.worker import format_params, trial_counts, trial_state


def best_params(study: Any, storage: str) -> TunedParams:
    """The best complete trial of ``study``, its storage named ``storage`` (a URL or a
    :func:`~mmbench.tuning.storage.storage_label`, kept without password); a study without a
    complete trial is a ConfigError."""
    setup = stored_setup(study)
    if not trial_counts(study).get("COMPLETE"):
        raise ConfigError(
            f"study {study.study_name!r} has no complete trial yet; run `mmbench tune` with more --trials"
        )
    best = study.best_trial
    return TunedParams(
        model=setup.model,
        dataset=setup.dataset,
        study=study.study_name,
        storage=public_url(storage),
        trial=best.number,
        metric=setup.metric,
        valid_value=float(best.value),
        params=dict(best.params),
        fixed=dict(setup.fixed),
    )


def tuning_seconds(study: Any) -> float:
    """The time the study's trials took, summed over trials (start to end of each, whatever its
    state; a running trial and a surplus one, never trained, count nothing): the worker time spent
    tuning, which is more than the wall-clock time when several workers ran at once."""
    total = 0.0
    for trial in study.get_trials(deepcopy=False):
        if trial.datetime_start and trial.datetime_complete and not trial.user_attrs.get("surplus"):
            total += (trial.datetime_complete - trial.datetime_start).total_seconds()
    return total


def describe_study(study: Any, storage_url: str) -> str:
    """Several lines: the study, its trials by state, the best trial and its parameters, then
    every trial in order (what the pruner stopped, and when, shows there)."""
    setup = stored_setup(study)
    counts = trial_counts(study)
    states = ", ".join(f"{counts[state]} {label}" for state, label in LABELS.items() if counts.get(state))
    lines = [
        f"study {study.study_name} ({public_url(storage_url)}): {setup.model} on {setup.dataset}, "
        f"validation {setup.metric}, seed {setup.seed}",
        f"trials: {states or 'none'}",
    ]
    if setup.fixed:
        lines.append("fixed: " + ", ".join(f"{k}={v}" for k, v in sorted(setup.fixed.items())))
    lines.append("space: " + ", ".join(f"{k} in {v}" for k, v in sorted(setup.space.items())))
    if counts.get("COMPLETE"):
        best = study.best_trial
        lines.append(
            f"best trial {best.number}: valid {setup.metric} {best.value:.4f} "
            f"at epoch {best.user_attrs.get('best_epoch')} of {best.user_attrs.get('epochs_run')}"
        )
        lines.extend(f"  {key} = {value}" for key, value in sorted(best.params.items()))
    trials = study.get_trials(deepcopy=False)
    if trials:
        lines.append(f"every trial (best validation {setup.metric} it reached):")
        carried_on = carried_on_numbers(trials)
        lines.extend(_trial_line(trial, carried_on) for trial in trials)
    return "\n".join(lines)


def _trial_line(trial: Any, carried_on: frozenset[int]) -> str:
    state = trial_state(trial, carried_on)
    steps = trial.intermediate_values
    if state == "COMPLETE":
        attrs = trial.user_attrs
        when = f" {trial.value:.4f} at epoch {attrs.get('best_epoch')} of {attrs.get('epochs_run')}"
    elif steps:
        when = f" {max(steps.values()):.4f} by epoch {max(steps)}"
    else:
        when = ""
    return f"  trial {trial.number}{trial_marks(trial)}: {LABELS[state]}{when} [{format_params(trial.params)}]"
