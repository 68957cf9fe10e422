"""Resumable trials: a trial stopped by Ctrl-C, or by the death of its worker, continues where it stopped.

Without this, a stopped trial is lost: Optuna marks it failed and the next run draws another in
its place, so a model whose trial trains for an hour (MMSSL on a CPU) could never finish a study
across sessions shorter than its trials. Each trial therefore trains with a checkpoint, written at
every evaluation as a run's is, in ``<results>/tuning-checkpoints/<study>/trial-<N>/``, and removed
once the trial is complete or pruned. When a study opens, every failed trial that left a
checkpoint is queued again with its parameters and the user attribute ``resumes`` (the number of
the trial it continues); its objective restores the checkpoint, reports the epochs already trained
to the new trial (so the pruner and ``tune --show`` see the whole curve), notes the last epoch it
restored as the user attribute ``resumed_after_epoch``, and trains on. A trial
retried by Optuna's heartbeat callback (its worker died) finds the same checkpoint through the
failed trial's number. Checkpoints restore every random-generator state, so a resumed trial ends
where the uninterrupted one would have.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mmbench.tuning.defaults_trial import DEFAULTS_ATTR, defaults_mark, is_defaults_trial
from mmbench.tuning.states import LIVE

RESUMES_ATTR = "resumes"  # trial user attribute: the number of the failed trial it continues
RESUMED_ATTR = "resumed_after_epoch"  # trial user attribute: the last epoch its checkpoint held
CHECKPOINTS_DIR = "tuning-checkpoints"
CHECKPOINT_FILE = "checkpoint.pt"


def checkpoints_root(results: Path, study_name: str) -> Path:
    """The folder that holds the checkpoints of the running and stopped trials of ``study_name``."""
    return results / CHECKPOINTS_DIR / study_name


def origin_number(trial: Any) -> int:
    """The number of the trial whose training ``trial`` (frozen or running) carries on: the failed
    trial it resumes or that Optuna's heartbeat retries, else its own."""
    resumed = trial.user_attrs.get(RESUMES_ATTR)
    if resumed is not None:
        return int(resumed)
    frozen = trial if hasattr(trial, "system_attrs") else _frozen(trial)
    retried = frozen.system_attrs.get("failed_trial")
    return int(retried) if retried is not None else trial.number


def carried_on_numbers(trials: list[Any]) -> frozenset[int]:
    """The numbers of the trials whose training a later one of ``trials`` carries on.

    A later trial carries on a training when it resumes or retries it (its origin, see
    :func:`origin_number`) and so continues from the checkpoint every earlier trial of that training
    wrote: the origin and each trial that resumed it before are carried on, not just the origin.
    """
    latest: dict[int, int] = {}
    for trial in trials:
        origin = origin_number(trial)
        latest[origin] = max(latest.get(origin, origin), trial.number)
    return frozenset(t.number for t in trials if t.number < latest[origin_number(t)])


def _frozen(trial: Any) -> Any:
    """The stored (frozen) form of a running trial, which alone shows Optuna's system attributes."""
    return next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)


def checkpoint_path(root: Path, origin: int) -> Path:
    """Where the trial that carries on trial ``origin`` (:func:`origin_number`) keeps its checkpoint
    under the study's ``root`` (its best state lies beside)."""
    return root / f"trial-{origin}" / CHECKPOINT_FILE


def discard_checkpoint(path: Path | None) -> None:
    """Remove a finished trial's checkpoint folder (nothing to do when it wrote none, or when
    the study keeps no checkpoints and ``path`` is None)."""
    if path is not None:
        shutil.rmtree(path.parent, ignore_errors=True)


def enqueue_stopped(study: Any, root: Path) -> list[int]:
    """Queue again every failed trial of ``study`` that left a checkpoint under ``root`` and that no
    live trial carries on already; the numbers of the trials queued for resumption."""
    trials = study.get_trials(deepcopy=False)
    carried = {origin_number(t) for t in trials if t.state.name in LIVE}
    queued = []
    for trial in trials:
        origin = origin_number(trial)
        if trial.state.name != "FAIL" or origin in carried or not checkpoint_path(root, origin).exists():
            continue
        marks = {RESUMES_ATTR: origin, **({DEFAULTS_ATTR: True} if is_defaults_trial(trial) else {})}
        study.enqueue_trial(dict(trial.params), user_attrs=marks)
        carried.add(origin)
        queued.append(origin)
    return queued


def resumes_mark(trial: Any) -> str:
    """What trial lines add after the number of a trial that resumes another ("" for any other)."""
    origin = origin_number(trial)
    return "" if origin == trial.number else f" (resumes trial {origin})"


def trial_marks(trial: Any) -> str:
    """Everything trial lines add after a trial's number: whether it trains the defaults, which
    trial it resumes."""
    return defaults_mark(trial) + resumes_mark(trial)
