"""The runs of one training command (models x variants x seeds), one after another or side by side.

On a CPU these models use a second thread poorly, so independent runs finish sooner as separate
processes with a thread each: on the 2-core development machine, two single-threaded MMSSL
training processes on TikTok do 1.23x the steps per second of one two-threaded process
(``benchmarks/cpu_jobs_vs_threads.py``; the processes still share memory bandwidth, so not 2x).
Every run, in-process or in a worker, is the same :func:`~mmbench.experiment.run_model` call,
so its records do not depend on how many ran at once.

Workers are spawned (not forked: torch's thread pools do not survive a fork), load the dataset
themselves and train silently; the command prints each run's result line as it finishes. When
a run fails, the runs still training are stopped at once, like a sequential command that stops
at its first failure; their checkpoints stay, and ``--resume`` continues them. A worker whose
command has gone (killed, terminal closed) ends too, instead of training on unseen: see
:func:`exit_with_parent`. With ``--device
cuda`` on a machine with several GPUs the workers are spread over them (:func:`worker_device`).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import queue
import sys
import threading
import traceback
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch

from mmbench.config import DEFAULT_KS
from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError, MMBenchError
from mmbench.progress import Progress, TrainingProgress
from mmbench.records import RunRecord
from mmbench.threads import threads_per_worker

POLL_SECONDS = 1.0

ResultPrinter = Callable[[str, int, RunRecord], None]


@dataclass(frozen=True)
class RunUnit:
    """One training: a model (under a label such as ``mmssl [w/o-CL]``) with one seed.

    ``modalities`` are the feature sets of an ablation variant that removes some (None: the
    command's selection)."""

    label: str
    model: str
    seed: int
    overrides: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    modalities: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RunSettings:
    """What every run of a command shares; ``threads`` is ``--threads`` (None: see :func:`~mmbench.threads.threads_per_worker`),
    ``modalities`` is ``--modalities`` (None: the dataset's default feature sets), ``ks`` is ``--ks``."""

    dataset: str
    datasets_root: Path | None
    protocols: tuple[str, ...]
    device: str
    results: Path
    resume: bool
    threads: int | None
    modalities: tuple[str, ...] | None = None
    ks: tuple[int, ...] = DEFAULT_KS


class _WorkerFailed(MMBenchError):
    """A worker's run raised; the message names the run."""


def worker_device(device: str, gpu_count: int, busy: Iterable[str]) -> str:
    """The device of a new worker: for ``cuda`` without an index on a machine with several GPUs,
    the GPU that the fewest running workers use (the lowest index on ties); else ``device``."""
    if device != "cuda" or gpu_count < 2:
        return device
    load = Counter(busy)
    return min((f"cuda:{index}" for index in range(gpu_count)), key=lambda name: load[name])


def check_jobs(jobs: int) -> None:
    """``--jobs`` must be a positive count."""
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")


def run_units(
    units: Sequence[RunUnit], settings: RunSettings, dataset: Dataset, jobs: int, on_result: ResultPrinter
) -> list[RunRecord]:
    """Train every unit, ``jobs`` at a time; records in the order of ``units``.

    ``dataset`` is the already loaded dataset, used when the runs go one after another.
    ``on_result`` is called once per record as soon as its run finishes.
    """
    check_jobs(jobs)
    jobs = min(jobs, len(units))
    settings = replace(settings, threads=threads_per_worker(settings.threads, jobs))
    if jobs <= 1:
        return _run_in_process(units, settings, dataset, on_result)
    return _run_in_workers(units, settings, jobs, on_result)


def _run_in_process(
    units: Sequence[RunUnit], settings: RunSettings, dataset: Dataset, on_result: ResultPrinter
) -> list[RunRecord]:
    from mmbench.experiment import run_model
    from mmbench.models.registry import default_registry

    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    registry = default_registry()
    device = torch.device(settings.device)
    records: list[RunRecord] = []
    for unit in units:
        progress = TrainingProgress(f"{unit.label} seed {unit.seed}")
        runs = run_model(
            registry.get(unit.model), dataset, unit.seed, settings.protocols, unit.overrides, device,
            settings.results, resume=settings.resume, progress=progress, extra=unit.extra,
            modalities=unit.modalities, ks=settings.ks,
        )
        for record in runs:
            on_result(unit.label, unit.seed, record)
        records.extend(runs)
    return records


def _run_in_workers(
    units: Sequence[RunUnit], settings: RunSettings, jobs: int, on_result: ResultPrinter
) -> list[RunRecord]:
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    waiting = list(range(len(units)))
    running: dict[int, multiprocessing.process.BaseProcess] = {}
    devices: dict[int, str] = {}
    finished: dict[int, list[RunRecord]] = {}
    gpu_count = torch.cuda.device_count() if settings.device == "cuda" else 0
    progress = Progress()
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                index = waiting.pop(0)
                devices[index] = worker_device(settings.device, gpu_count, (devices[i] for i in running))
                worker_settings = replace(settings, device=devices[index])
                worker = context.Process(
                    target=_work, args=(worker_settings, units[index], index, messages), daemon=True
                )
                worker.start()
                running[index] = worker
            progress.update(_status(units, waiting, running, finished), force=True)
            try:
                index, outcome, payload = messages.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _check_alive(units, running)
                continue
            running.pop(index).join()
            unit = units[index]
            if outcome != "done":
                raise _failure(unit, outcome, payload, len(running))
            records = [RunRecord(Path(path), data) for path, data in payload]
            progress.close()
            for record in records:
                on_result(unit.label, unit.seed, record)
            finished[index] = records
    finally:
        progress.close()
        _stop(running.values())
    return [record for index in range(len(units)) for record in finished[index]]


def _status(units, waiting, running, finished) -> str:
    names = ", ".join(f"{units[i].label} seed {units[i].seed}" for i in sorted(running))
    return f"{len(finished)} of {len(units)} runs done, {len(waiting)} waiting; training: {names}"


def _check_alive(units: Sequence[RunUnit], running: dict[int, Any]) -> None:
    """A worker that died without a word (killed, out of memory) fails the command."""
    for index, worker in list(running.items()):
        if not worker.is_alive() and worker.exitcode not in (0, None):
            running.pop(index)
            raise _failure(units[index], "died", f"its process exited with code {worker.exitcode}", len(running))


def _failure(unit: RunUnit, outcome: str, payload: str, still_running: int) -> Exception:
    """The error the command ends with; a worker's crash stays a bug (with its traceback)."""
    stopped = (
        f"; the {still_running} other run(s) in training were stopped: continue them with --resume"
        if still_running else ""
    )
    where = f"{unit.label} seed {unit.seed}"
    if outcome == "crashed":
        return RuntimeError(f"{where} failed with an unexpected error (a bug in mmbench):\n{payload}")
    if outcome == "interrupted":
        return _WorkerFailed(f"{where} was interrupted{stopped}")
    return _WorkerFailed(f"{where}: {payload}{stopped}")


def _stop(workers) -> None:
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join()


def exit_with_parent() -> None:
    """End this worker process as soon as the process that started it is gone.

    A command killed with a signal it cannot catch (``kill -9``) or stopped without its
    ``finally`` running (``kill``'s default SIGTERM) cannot stop its workers, and daemon workers
    are only stopped by a parent that exits normally; without this they would train on, unseen,
    for hours. The last checkpoint stays, so ``--resume`` continues the run.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def wait_for_parent() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=wait_for_parent, name="mmbench-exit-with-parent", daemon=True).start()


def worker_progress_mode() -> str:
    """A worker prints its per-evaluation lines where output goes to a file; on a terminal it stays
    quiet under the command's one status line."""
    return "off" if sys.stderr.isatty() else "lines"


def _work(settings: RunSettings, unit: RunUnit, index: int, messages) -> None:
    """A worker's whole life: one run, then one message ``(index, outcome, payload)``."""
    exit_with_parent()
    logging.basicConfig(level=logging.WARNING, format="mmbench: %(levelname)s: %(message)s")
    try:
        from mmbench.data.loading import load_dataset
        from mmbench.experiment import run_model
        from mmbench.models.registry import default_registry

        if settings.threads is not None:
            torch.set_num_threads(settings.threads)
        dataset = load_dataset(settings.dataset, settings.datasets_root, warn=False)
        records = run_model(
            default_registry().get(unit.model), dataset.with_modalities(settings.modalities), unit.seed,
            settings.protocols, unit.overrides, torch.device(settings.device), settings.results,
            resume=settings.resume, extra=unit.extra, modalities=unit.modalities, ks=settings.ks,
            progress=TrainingProgress(f"{unit.label} seed {unit.seed}", mode=worker_progress_mode()),
        )
        messages.put((index, "done", [(str(record.path), record.data) for record in records]))
    except MMBenchError as error:
        messages.put((index, "error", str(error)))
    except KeyboardInterrupt:
        messages.put((index, "interrupted", ""))
    except Exception:
        messages.put((index, "crashed", traceback.format_exc()))
