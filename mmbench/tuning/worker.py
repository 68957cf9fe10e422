"""One tuning worker: runs trials of a shared study until it holds the requested number.

Several workers (processes, GPUs or machines) run this same loop against one storage; the storage
is the only coordination. A worker stops when ``n_trials`` trials are finished (complete or
pruned). When the remaining trials are all running elsewhere it waits: with heartbeats, a trial
whose worker died turns failed and is queued again, and a waiting worker picks it up. Two workers
that start the last trial at the same instant are resolved by trial number: the later one is
marked failed, with user attribute ``surplus``, before it trains, so the study never holds more
than ``n_trials`` finished trials.

Ctrl-C (SIGINT) interrupts a trial only while it trains: the trial is then marked failed by
Optuna. A Ctrl-C that lands while Optuna itself is writing to the storage is held until that write
is done, because Optuna cannot recover from an interrupt there (the trial would stay RUNNING and
the process would end with an unrelated error). That holds for the objective's own writes during
training too (its per-epoch report): it wraps them in :meth:`Worker.storage_section`, and a Ctrl-C
received inside one is raised as soon as the section ends. An interrupt inside a commit would
leave its connection holding SQLite's write lock, and the write that marks the trial failed would
then wait on it until "database is locked".
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from mmbench.progress import Progress
from mmbench.tuning.resumable import carried_on_numbers, trial_marks
from mmbench.tuning.states import FINISHED, LIVE

POLL_SECONDS = 1.0
INTERRUPTED_ATTR = "interrupted"  # trial user attribute: Ctrl-C stopped it while it trained


class SurplusTrial(Exception):
    """Raised inside a trial that started after the study already had enough trials."""


def trial_counts(study: Any) -> dict[str, int]:
    """Number of the study's trials in each state, by state name (:func:`trial_state`)."""
    trials = study.get_trials(deepcopy=False)
    carried_on = carried_on_numbers(trials)
    counts: dict[str, int] = {}
    for trial in trials:
        state = trial_state(trial, carried_on)
        counts[state] = counts.get(state, 0) + 1
    return counts


def trial_state(trial: Any, carried_on: frozenset[int]) -> str:
    """The trial's state by name; ``SURPLUS`` for a trial started after the study was full, and
    ``INTERRUPTED`` for a failed trial that Ctrl-C stopped or that another trial carries on
    (``carried_on``, from :func:`carried_on_numbers`), so that a report does not count a trial
    stopped at the end of a session, to be resumed from its checkpoint, as a failure."""
    if trial.user_attrs.get("surplus"):
        return "SURPLUS"
    stopped = trial.user_attrs.get(INTERRUPTED_ATTR) or trial.number in carried_on
    return "INTERRUPTED" if trial.state.name == "FAIL" and stopped else trial.state.name


def best_value(study: Any) -> float | None:
    """The best complete trial's value, or None before any trial completed."""
    complete = [t.value for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    return max(complete) if complete else None


@dataclass
class Worker:
    """Runs ``objective`` trials of ``study`` until it has ``n_trials`` finished ones.

    ``heartbeat`` says whether the storage fails the trials of dead workers; only then does a
    worker wait for trials running elsewhere instead of stopping.
    ``echo`` receives one line per trial this worker starts and finishes; ``progress`` shows the
    running trial's epoch, the trials done out of the total and the best value so far.
    """

    study: Any
    objective: Callable[[Any], float]
    n_trials: int
    heartbeat: bool
    timeout: float | None = None
    label: str = ""
    echo: Callable[[str], None] = print
    progress: Progress = field(default_factory=lambda: Progress(enabled=False))
    _ran: list[int] = field(default_factory=list, init=False, repr=False)
    _training: bool = field(default=False, init=False, repr=False)
    _interrupted: bool = field(default=False, init=False, repr=False)
    _in_storage: bool = field(default=False, init=False, repr=False)

    def run(self) -> list[int]:
        """Run trials until the study is done (or the timeout passed); return their numbers.

        Raises KeyboardInterrupt on Ctrl-C, after Optuna has recorded the interrupted trial.
        """
        if threading.current_thread() is not threading.main_thread():
            return self._run_trials()
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        try:
            return self._run_trials()
        finally:
            signal.signal(signal.SIGINT, previous)

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        self._interrupted = True
        if self._training and not self._in_storage:
            raise KeyboardInterrupt

    @contextmanager
    def storage_section(self) -> Iterator[None]:
        """Hold a Ctrl-C while the body talks to the storage; raise it once the body is done.

        The objective wraps its writes during training (report, pruning check) in this section.
        """
        self._in_storage = True
        try:
            yield
        finally:
            self._in_storage = False
        if self._interrupted and self._training:
            raise KeyboardInterrupt

    def _run_trials(self) -> list[int]:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        self._ran = []
        self.echo(f"{self.label}working on study {self.study.study_name} ({self.n_trials} trials)")
        while deadline is None or time.monotonic() < deadline:
            if self._interrupted:
                raise KeyboardInterrupt
            counts = trial_counts(self.study)
            done = sum(counts.get(state, 0) for state in FINISHED)
            if done >= self.n_trials:
                break
            if done + counts.get("RUNNING", 0) >= self.n_trials:
                if not self.heartbeat:
                    break
                self._fail_stale_trials()
                time.sleep(POLL_SECONDS)
                continue
            try:
                self.study.optimize(self._guarded, n_trials=1, callbacks=[self._finished])
            except SurplusTrial:
                break
        if self._interrupted:
            raise KeyboardInterrupt
        self.progress.close()
        return self._ran

    def _fail_stale_trials(self) -> None:
        import optuna
        from optuna.exceptions import ExperimentalWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)

    def _guarded(self, trial: Any) -> float:
        ahead = [
            t for t in trial.study.get_trials(deepcopy=False)
            if t.number < trial.number and t.state.name in LIVE
        ]
        if len(ahead) >= self.n_trials:
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"trial {trial.number} started after the study had {self.n_trials} trials")
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        self._ran.append(trial.number)
        self.echo(f"{self.label}trial {trial.number}{trial_marks(trial)} started")
        if self._interrupted:
            raise KeyboardInterrupt
        self._training = True
        try:
            return self.objective(trial)
        except KeyboardInterrupt:
            self._training = False  # no second Ctrl-C inside the write below
            trial.set_user_attr(INTERRUPTED_ATTR, True)
            raise
        finally:
            self._training = False

    def show_epoch(self, number: int, epoch: int, best: float) -> None:
        """Progress line while a trial trains (the objective's ``on_epoch`` listener)."""
        if not self.progress.enabled:  # spares two reads of the study per epoch
            return
        counts = trial_counts(self.study)
        done = sum(counts.get(state, 0) for state in FINISHED)
        study_best = best_value(self.study)
        shown = "-" if study_best is None else f"{study_best:.4f}"
        self.progress.update(
            f"{self.label}trial {number} epoch {epoch}: best {best:.4f} | "
            f"trials done {done}/{self.n_trials} | study best {shown}",
            force=True,
        )

    def _finished(self, study: Any, trial: Any) -> None:
        self.progress.close()
        counts = trial_counts(study)
        done = sum(counts.get(state, 0) for state in FINISHED)
        best = study.best_trial if counts.get("COMPLETE") else None
        if trial.state.name == "COMPLETE":
            outcome = f"complete, value {trial.value:.4f} (best epoch {trial.user_attrs.get('best_epoch')})"
        else:
            steps = trial.intermediate_values
            at = f" at epoch {max(steps)}" if steps else ""
            why = " (diverged)" if "diverged" in trial.user_attrs else ""
            outcome = f"{trial.state.name.lower()}{at}{why}"
        summary = "-" if best is None else f"{best.value:.4f} (trial {best.number})"
        self.echo(
            f"{self.label}trial {trial.number}{trial_marks(trial)} {outcome} [{format_params(trial.params)}] "
            f"| done {done}/{self.n_trials} | best {summary}"
        )


def format_params(params: dict[str, Any]) -> str:
    """``key=value, ...`` with floats to 4 significant digits, as trial lines show parameters."""
    return ", ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}" for key, value in params.items()
    )
