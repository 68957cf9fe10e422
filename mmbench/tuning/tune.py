"""One study end to end: the library behind ``mmbench tune``, and behind each model of ``tune-all``.

:func:`tune_model` opens (or resumes) the study of a :class:`TuneRequest` and runs trials until it
holds the requested number of finished ones: in this process, or in worker processes on this
machine (``workers``, or one pinned to each of ``gpus``) that share the study through its storage.
:func:`save_best` writes the best trial as the parameters file that ``mmbench run --tuned`` reads.
A space with a single point (or none, where allowed) gets one trial: more would train the same
configuration again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mmbench.config import DEFAULT_KS
from mmbench.errors import ConfigError
from mmbench.tuning.space import point_count
from mmbench.tuning.storage import DEFAULT_HEARTBEAT

if TYPE_CHECKING:
    from mmbench.config import TrainConfig
    from mmbench.data.dataset import Dataset
    from mmbench.models.base import RecModel
    from mmbench.models.registry import ModelRegistry
    from mmbench.search_space import Param
    from mmbench.tuning.params import TunedParams

Echo = Callable[[str], None]


def print_line(line: str) -> None:
    """The default ``echo``: one line to standard output, flushed at once."""
    print(line, flush=True)


@dataclass(frozen=True)
class TuneRequest:
    """Everything one study needs, as ``mmbench tune`` takes it from its command line.

    ``dataset`` is a name or folder as ``--dataset`` takes it (worker processes load it again);
    ``assignments`` are ``KEY=VALUE`` texts fixed in every trial; ``epochs`` fixes the epoch cap;
    ``sampler_seed`` None leaves the sampler unseeded. ``worker_index`` is set in a worker process
    started by a launcher. ``allow_empty_space`` lets a model whose every key is fixed run its one
    configuration instead of being refused. ``defaults_trial`` adds one trial of the model's
    defaults to the ``trials`` drawn (:mod:`mmbench.tuning.defaults_trial`).
    """

    model: str
    dataset: str
    results: Path
    trials: int = 20
    datasets_root: Path | None = None
    modalities: tuple[str, ...] | None = None
    ks: tuple[int, ...] | None = None
    storage: str | None = None
    study: str | None = None
    epochs: int | None = None
    assignments: tuple[str, ...] = ()
    metric: str | None = None
    space_file: Path | None = None
    sampler: str = "tpe"
    sampler_seed: int | None = None
    pruner: str = "median"
    seed: int = 1
    timeout: float | None = None
    device: str = "auto"
    threads: int | None = None
    workers: int = 1
    gpus: tuple[int, ...] | None = None
    heartbeat: int = DEFAULT_HEARTBEAT
    worker_index: int | None = None
    allow_empty_space: bool = False
    defaults_trial: bool = False

    @property
    def storage_url(self) -> str:
        """``storage``, or the default SQLite file under ``results``."""
        from mmbench.tuning.storage import default_storage_url

        return self.storage or default_storage_url(self.results)


@dataclass(frozen=True)
class StudyPlan:
    """What a request searches: the fixed keys, the space, and the trials the study should hold;
    ``defaults`` holds the values of the defaults trial when the study has one (else None)."""

    model_class: type[RecModel]
    config: TrainConfig
    fixed: dict[str, Any]
    space: dict[str, Param]
    trials: int
    defaults: dict[str, Any] | None = None

    @property
    def single_point(self) -> bool:
        """Whether the space holds one configuration (or none), so one trial is all it needs."""
        return point_count(self.space) <= 1


@dataclass(frozen=True)
class TuneOutcome:
    """How a study ended: ``status`` 0 when it holds its trials (or its timeout passed), 1 when
    workers stopped short, 130 when interrupted."""

    study: Any
    storage_url: str
    status: int


def check_request(request: TuneRequest, registry: ModelRegistry) -> None:
    """Refuse what needs neither torch nor the data: an unknown model or dataset, a bad count."""
    from mmbench.data.catalog import resolve
    from mmbench.tuning.study import PRUNERS, SAMPLERS

    registry.check(request.model)
    resolve(request.dataset, request.datasets_root)
    if request.trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {request.trials}")
    if request.epochs is not None and request.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {request.epochs}")
    if request.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {request.workers}")
    if request.threads is not None and request.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {request.threads}")
    if request.sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler {request.sampler!r}; valid samplers: {', '.join(SAMPLERS)}")
    if request.pruner not in PRUNERS:
        raise ConfigError(f"unknown pruner {request.pruner!r}; valid pruners: {', '.join(PRUNERS)}")


def plan_study(request: TuneRequest, model_class: type[RecModel], dataset_name: str) -> StudyPlan:
    """The fixed keys and the space of ``request`` for ``model_class``, every value checked against
    the model's config (a bad ``--set``, ``--space`` or grid is refused here, before any trial)."""
    from mmbench.config import parse_assignments
    from mmbench.tuning import space as spaces
    from mmbench.tuning.defaults_trial import defaults_params

    assigned: dict[str, Any] = parse_assignments(list(request.assignments))
    if request.epochs is not None:
        assigned["epochs"] = str(request.epochs)
    if request.metric is not None:
        assigned["metric"] = request.metric
    config = model_class.config_for(dataset_name, assigned)
    fixed = {key: getattr(config, key) for key in assigned}
    file_space = spaces.load_space_file(request.space_file, model_class.config_class) if request.space_file else None
    space = spaces.study_space(
        model_class.config_class, model_class.search_space, file_space, fixed, request.allow_empty_space
    )
    if request.sampler == "grid":
        spaces.grid(space)
    if point_count(space) <= 1:
        return StudyPlan(model_class, config, fixed, space, 1)
    if not request.defaults_trial:
        return StudyPlan(model_class, config, fixed, space, request.trials)
    defaults = defaults_params(config, space, model_class.name)
    return StudyPlan(model_class, config, fixed, space, request.trials + 1, defaults)


def tune_model(
    request: TuneRequest,
    registry: ModelRegistry | None = None,
    echo: Echo = print_line,
    dataset: Dataset | None = None,
    on_open: Callable[[Any], None] | None = None,
) -> TuneOutcome:
    """Run ``request``'s study until it holds its trials; a study that already does runs nothing.

    ``registry`` resolves the model in this process (default: the installed models; worker
    processes always use those). ``dataset``, when given, is the loaded dataset of the request,
    spared a second load. ``on_open`` sees the opened study before any trial runs (to check or
    tag it). Ctrl-C stops every worker: the outcome then has status 130 and every finished trial
    stays stored.
    """
    from mmbench.models.registry import default_registry

    registry = registry or default_registry()
    check_request(request, registry)
    # torch and the models load only now: a mistyped flag, name or dataset is refused before them
    import torch

    from mmbench.data.loading import load_dataset
    from mmbench.tuning import launcher
    from mmbench.tuning.defaults_trial import enqueue_defaults
    from mmbench.tuning.resumable import checkpoints_root, enqueue_stopped
    from mmbench.tuning.storage import default_study_name, has_heartbeat, open_storage
    from mmbench.tuning.study import make_pruner, make_sampler, open_study, setup_for
    from mmbench.tuning.states import FINISHED
    from mmbench.tuning.worker import format_params, trial_counts

    if request.gpus and request.worker_index is None:
        launcher.check_gpus(request.gpus, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if dataset is None:
        dataset = load_dataset(request.dataset, request.datasets_root).with_modalities(request.modalities)
    model_class = registry.get(request.model)
    plan = plan_study(request, model_class, dataset.name)
    storage = open_storage(request.storage_url, request.heartbeat)
    name = request.study or default_study_name(model_class.name, dataset.study_key)
    setup = setup_for(model_class.name, dataset.study_key, plan.config.metric, request.seed, plan.fixed, plan.space)
    sampler = make_sampler(request.sampler, plan.space, request.sampler_seed)
    study = open_study(storage, name, setup, sampler, make_pruner(request.pruner))
    if on_open is not None:
        on_open(study)
    label = "" if request.worker_index is None else f"[worker {request.worker_index}] "
    if plan.single_point and request.trials > 1:
        echo(f"{label}the search space of {model_class.name} is a single point: one trial, not {request.trials}")
    counts = trial_counts(study)
    done = sum(counts.get(state, 0) for state in FINISHED)
    if request.worker_index is None and done >= plan.trials:
        echo(f"study {name} already holds {done} finished trials of {plan.trials}: nothing to run")
        return TuneOutcome(study, request.storage_url, 0)
    checkpoints = checkpoints_root(request.results, name)
    if request.worker_index is None:
        for number in enqueue_stopped(study, checkpoints):
            echo(f"queued trial {number} again: it resumes from its checkpoint")
    if plan.defaults is not None and request.worker_index is None and enqueue_defaults(study, plan.defaults):
        echo(f"queued the defaults trial of {model_class.name}: {format_params(plan.defaults)}")
    parallel = plan.trials > 1 and (request.gpus or request.workers > 1) and request.worker_index is None
    started = time.monotonic()
    try:
        if parallel:
            status = _launch(request, plan, study, echo)
        else:
            _work_in_process(
                request, plan, study, model_class, dataset, has_heartbeat(storage), checkpoints, label, echo
            )
            status = 0
    except KeyboardInterrupt:
        echo(f"\ninterrupted after {time.monotonic() - started:.0f} s: finished trials are kept; "
             "re-run the same command to continue")
        status = 130
    return TuneOutcome(study, request.storage_url, status)


def _work_in_process(
    request: TuneRequest, plan: StudyPlan, study: Any, model_class: type[RecModel], dataset: Dataset,
    heartbeat: bool, checkpoints: Path, label: str, echo: Echo,
) -> None:
    """Serve ``study`` from this process until it holds ``plan.trials`` finished trials (or the
    request's timeout passes): the single-worker case, and each launched worker's own loop."""
    import torch

    from mmbench.progress import Progress
    from mmbench.training.reproducibility import resolve_device
    from mmbench.tuning.objective import Objective
    from mmbench.tuning.worker import Worker

    if request.threads is not None:
        torch.set_num_threads(request.threads)
    device = torch.device(f"cuda:{request.gpus[0]}") if request.gpus else resolve_device(request.device)
    objective = Objective(model_class, dataset, plan.space, plan.fixed, request.seed, device,
                          ks=request.ks or DEFAULT_KS, checkpoints=checkpoints)
    worker = Worker(
        study, objective, plan.trials, heartbeat, request.timeout, label, echo=echo,
        progress=Progress() if request.worker_index is None else Progress(enabled=False),
    )
    objective.on_epoch = worker.show_epoch
    objective.storage_section = worker.storage_section
    worker.run()


def save_best(study: Any, storage: str, path: Path) -> TunedParams | None:
    """Write the best complete trial of ``study`` to ``path`` and return it; None (nothing
    written) while the study has no complete trial. ``storage`` names the study's storage in the
    file and in the records of runs with it (:func:`~mmbench.tuning.storage.storage_label`)."""
    from mmbench.tuning.params import write_params
    from mmbench.tuning.summary import best_params
    from mmbench.tuning.worker import trial_counts

    if not trial_counts(study).get("COMPLETE"):
        return None
    tuned = best_params(study, storage)
    write_params(path, tuned)
    return tuned


def _launch(request: TuneRequest, plan: StudyPlan, study: Any, echo: Echo) -> int:
    """Start the worker processes, show their joint progress, and say how they ended."""
    from mmbench.progress import Progress
    from mmbench.tuning import launcher
    from mmbench.tuning.states import FINISHED
    from mmbench.tuning.worker import trial_counts

    workers = len(request.gpus) if request.gpus else request.workers
    argv = worker_argv(request, study.study_name, workers)
    specs = launcher.worker_specs(argv, request.workers, list(request.gpus) if request.gpus else None)
    echo(f"starting {len(specs)} workers on study {study.study_name}")
    progress = Progress()

    def show() -> None:
        trials = study.get_trials(deepcopy=False)
        done = sum(t.state.name in FINISHED for t in trials)
        complete = [t.value for t in trials if t.state.name == "COMPLETE"]
        running = [
            f"trial {t.number} epoch {max(t.intermediate_values, default=0)}"
            for t in trials if t.state.name == "RUNNING"
        ]
        best = f"{max(complete):.4f}" if complete else "-"
        progress.update(f"trials done {done}/{plan.trials} | best {best} | running: {', '.join(running) or '-'}")

    try:
        codes = launcher.run_workers(specs, show)
    finally:
        progress.close()
    counts = trial_counts(study)
    finished = sum(counts.get(state, 0) for state in FINISHED)
    for index, code in enumerate(codes):
        if code != 0:
            echo(f"worker {index} exited with status {code}")
    if finished < plan.trials and request.timeout is None:
        echo(f"the study holds {finished} of {plan.trials} trials: re-run the same command to finish it")
        return 1
    return 0


def worker_argv(request: TuneRequest, study: str, workers: int) -> list[str]:
    """The ``mmbench tune`` options every worker process shares: the request's, with storage and
    study resolved and, without ``threads``, the CPU cores shared out between the ``workers``."""
    from mmbench.threads import threads_per_worker

    argv = [
        "--model", request.model, "--dataset", request.dataset, "--trials", str(request.trials),
        "--storage", request.storage_url, "--study", study, "--sampler", request.sampler,
        "--pruner", request.pruner, "--seed", str(request.seed), "--heartbeat", str(request.heartbeat),
        "--results", str(request.results),
    ]
    optional = {
        "--datasets-root": request.datasets_root, "--timeout": request.timeout, "--metric": request.metric,
        "--space": request.space_file, "--epochs": request.epochs, "--sampler-seed": request.sampler_seed,
        "--threads": threads_per_worker(request.threads, workers),
        "--modalities": ",".join(request.modalities) if request.modalities else None,
        "--ks": ",".join(map(str, request.ks)) if request.ks else None,
    }
    for flag, value in optional.items():
        if value is not None:
            argv += [flag, str(value)]
    for assignment in request.assignments:
        argv += ["--set", assignment]
    if not request.gpus:
        argv += ["--device", request.device]
    if request.defaults_trial:
        argv.append("--defaults-trial")
    return argv
