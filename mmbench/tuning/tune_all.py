"""Every model tuned with one budget on one dataset, then each best configuration tested per seed.

A comparison in which some models are tuned and others run on their defaults measures the tuning,
not the models. :func:`tune_models` gives every named model the same :class:`TuningBudget`, each in
its own study named ``MODEL-DATASET`` (as ``mmbench tune`` names it, so ``run --tuned`` finds the
parameters file), one model after the other, each study with all the workers or GPUs the request
has (:func:`~mmbench.tuning.tune.tune_model`). Validation only: no trial reads test. Then each
model's best configuration trains once per seed and is tested once per seed, exactly as
``mmbench run --tuned`` does (:func:`~mmbench.experiment.run_model`, records marked ``"tuned"``).

Everything is resumable: re-running the same request continues each study to the budget (a study
that holds it runs nothing) and skips the trainings already finished. Every check that needs no
training runs first, so a mistake is refused before any work: an unknown model, a bad budget, a
key the budget fixes that a model lacks, or a study that was made under other terms (another
budget, outside ``tune-all``, or with more trials than the budget). The budget and each model's
space and tuning cost go to ``RESULTS/tuned/budget-DATASET.json`` (:mod:`mmbench.tuning.budget`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from mmbench.config import DEFAULT_KS
from mmbench.errors import ConfigError
from mmbench.tuning.budget import (
    BUDGET_ATTR,
    BudgetFile,
    ModelTuning,
    TuningBudget,
    budget_path,
    read_budget,
    write_budget,
)
from mmbench.tuning.storage import DEFAULT_HEARTBEAT
from mmbench.tuning.tune import Echo, StudyPlan, TuneRequest, print_line

if TYPE_CHECKING:
    from mmbench.data.dataset import Dataset
    from mmbench.models.registry import ModelRegistry
    from mmbench.parallel_runs import ResultPrinter, RunUnit
    from mmbench.records import RunRecord
    from mmbench.tuning.params import TunedParams

REMEDY = "give tune-all another --storage (or --results), or delete the study"


@dataclass(frozen=True)
class TuneAllRequest:
    """One ``tune-all``: the models (empty: every registered one), the dataset as ``--dataset``
    takes it, the budget, and how the best configurations are tested (``seeds``, ``protocols``).
    ``workers`` or ``gpus`` serve each study in turn, then train that many runs at a time.
    ``timeout`` (seconds per study) stops a study short of the budget where time is scarce: its
    best trial so far is trained, the budget file keeps how many trials it got, and the same
    command without ``timeout`` later continues it to the budget."""

    models: tuple[str, ...]
    dataset: str
    results: Path
    budget: TuningBudget
    seeds: tuple[int, ...] = (1, 2, 3)
    protocols: tuple[str, ...] = ("standard",)
    datasets_root: Path | None = None
    modalities: tuple[str, ...] | None = None
    ks: tuple[int, ...] | None = None
    storage: str | None = None
    device: str = "auto"
    threads: int | None = None
    workers: int = 1
    gpus: tuple[int, ...] | None = None
    heartbeat: int = DEFAULT_HEARTBEAT
    timeout: float | None = None

    def tune_request(self, model: str) -> TuneRequest:
        """The study of ``model`` under the budget."""
        budget = self.budget
        return TuneRequest(
            model=model, dataset=self.dataset, results=self.results, trials=budget.trials,
            datasets_root=self.datasets_root, modalities=self.modalities, ks=self.ks, storage=self.storage,
            epochs=budget.epochs, assignments=budget.fixed, sampler=budget.sampler,
            sampler_seed=budget.sampler_seed, pruner=budget.pruner, seed=budget.seed, device=self.device,
            threads=self.threads, workers=self.workers, gpus=self.gpus, heartbeat=self.heartbeat,
            timeout=self.timeout, allow_empty_space=True, defaults_trial=budget.defaults_trial,
        )


@dataclass(frozen=True)
class TuneAllOutcome:
    """``status`` 0 when every model was tuned and tested; otherwise the status of the study that
    stopped short (1) or was interrupted (130), and ``records`` is empty."""

    status: int
    records: list[RunRecord]
    budget_file: Path


def tune_models(
    request: TuneAllRequest,
    registry: ModelRegistry | None = None,
    echo: Echo = print_line,
    on_result: ResultPrinter | None = None,
) -> TuneAllOutcome:
    """Tune every model of ``request`` with its budget, then train and test each best configuration.

    ``registry`` resolves the models in this process (default: the installed ones; worker
    processes, with ``workers`` > 1 or ``gpus``, always load the installed ones). ``on_result``
    sees each run record as its training finishes.
    """
    from mmbench.models.registry import default_registry

    registry = registry or default_registry()
    models = request.models or tuple(registry.names())
    _check(request, models, registry)
    # torch and the models load only now: a mistyped flag, name or dataset is refused before them
    import torch

    from mmbench.data.loading import load_dataset
    from mmbench.tuning.launcher import check_gpus
    from mmbench.tuning.params import tuned_params_path
    from mmbench.tuning.storage import default_storage_url, default_study_name, open_storage, storage_label
    from mmbench.tuning.tune import save_best, tune_model

    if request.gpus:
        check_gpus(request.gpus, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    dataset = load_dataset(request.dataset, request.datasets_root).with_modalities(request.modalities)
    plans = _plans(request, models, registry, dataset.name)
    storage_url = request.storage or default_storage_url(request.results)
    storage = open_storage(storage_url, request.heartbeat)
    label = storage_label(storage_url, request.results)
    names = {model: default_study_name(model, dataset.study_key) for model in models}
    path = budget_path(request.results, dataset.study_key)
    document = _checked_budget(request.budget, plans, names, dataset.study_key, storage, label, path)
    write_budget(path, document)

    tuned: dict[str, TunedParams] = {}
    for index, model in enumerate(models, 1):
        echo(f"[{index}/{len(models)}] tuning {model} on {dataset.study_key}: study {names[model]}")
        outcome = tune_model(
            request.tune_request(model), registry, echo, dataset, on_open=lambda study: _tag(study, request.budget)
        )
        params = save_best(outcome.study, label, tuned_params_path(request.results, names[model], label))
        document = _with_entry(path, document, model, _entry(names[model], plans[model], outcome.study))
        write_budget(path, document)
        if outcome.status != 0:
            return TuneAllOutcome(outcome.status, [], path)
        if params is None:
            echo(f"{model}: study {names[model]} has no complete trial: not trained")
        else:
            tuned[model] = params
    units = _units(request, tuned, lambda model: tuned_params_path(request.results, names[model], label))
    records = _train(units, request, dataset, registry, on_result or (lambda label, seed, record: None))
    return TuneAllOutcome(0, records, path)


def _check(request: TuneAllRequest, models: Sequence[str], registry: ModelRegistry) -> None:
    """What needs neither torch nor the data: names, budget, seeds, protocols, counts."""
    from mmbench.evaluation.protocols import get_protocol
    from mmbench.tuning.tune import check_request

    registry.check(",".join(models))
    if len(set(models)) != len(models):
        raise ConfigError(f"--models names a model twice: {','.join(models)}")
    request.budget.check()
    if not request.seeds:
        raise ConfigError("--seeds expects at least one seed, for example 1,2,3")
    if not request.protocols:
        raise ConfigError("--protocol expects protocol names such as standard,lattice")
    for protocol in request.protocols:
        get_protocol(protocol)
    check_request(request.tune_request(models[0]), registry)


def _plans(
    request: TuneAllRequest, models: Sequence[str], registry: ModelRegistry, dataset_name: str
) -> dict[str, StudyPlan]:
    """Each model's space and fixed keys under the budget, every value checked against its config,
    and its selection metric checked against the protocols."""
    from mmbench.training.trainer import shares_selection
    from mmbench.tuning.tune import plan_study

    plans = {model: plan_study(request.tune_request(model), registry.get(model), dataset_name) for model in models}
    for model, plan in plans.items():
        if not shares_selection(request.protocols, plan.config.metric):
            raise ConfigError(
                f"--protocol {','.join(request.protocols)}: these protocols compute {plan.config.metric} "
                f"differently at validation ({model}), so one training cannot serve both; run them separately"
            )
    return plans


def _checked_budget(
    budget: TuningBudget, plans: dict[str, StudyPlan], names: dict[str, str], dataset_key: str, storage: Any,
    storage_label: str, path: Path,
) -> BudgetFile:
    """The budget file to write before tuning, once the existing file and every existing study are
    checked against ``budget``: each model's line holds its space, trials and study so far.
    ``storage_label`` names the storage as :func:`~mmbench.tuning.storage.storage_label` does."""
    from mmbench.tuning.study import setup_for

    document = _budget_document(path, budget, dataset_key, storage_label)
    for model, plan in plans.items():
        setup = setup_for(model, dataset_key, plan.config.metric, budget.seed, plan.fixed, plan.space)
        study = _existing_study(storage, names[model], plan, setup, budget)
        document.models[model] = _entry(names[model], plan, study)
    return document


def _existing_study(storage: Any, name: str, plan: StudyPlan, setup: Any, budget: TuningBudget) -> Any:
    """The study ``name`` if it exists (else None), once checked: it may be resumed only with the
    same setup, under this budget's terms and below its trial count."""
    import optuna

    from mmbench.tuning.study import check_setup
    from mmbench.tuning.states import FINISHED
    from mmbench.tuning.worker import trial_counts

    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None
    check_setup(study, setup, REMEDY)
    counts = trial_counts(study)
    made = sum(n for state, n in counts.items() if state != "SURPLUS")
    terms = study.user_attrs.get(BUDGET_ATTR)
    if made and terms != budget.terms():
        how = "outside `mmbench tune-all`" if terms is None else f"under another budget ({_differences(terms, budget)})"
        raise ConfigError(f"study {name!r} holds {made} trials made {how}; {REMEDY}")
    finished = sum(counts.get(state, 0) for state in FINISHED)
    if finished > plan.trials:
        raise ConfigError(
            f"study {name!r} holds {finished} finished trials, more than the {plan.trials} of this budget, "
            f"so the models would not get the same budget; give --trials {finished} or more, or {REMEDY}"
        )
    return study


def _differences(stored: Any, budget: TuningBudget) -> str:
    wanted = budget.terms()
    if not isinstance(stored, dict):
        return "unreadable"
    return ", ".join(f"{key} {stored.get(key)!r}, not {value!r}" for key, value in wanted.items() if stored.get(key) != value)


def _tag(study: Any, budget: TuningBudget) -> None:
    """Mark a study as made under ``budget`` before its first trial (checked on every resume)."""
    if BUDGET_ATTR not in study.user_attrs:
        study.set_user_attr(BUDGET_ATTR, budget.terms())


def _budget_document(path: Path, budget: TuningBudget, dataset_key: str, storage: str) -> BudgetFile:
    """The budget file to write: the existing one when its terms match this budget (its models
    kept, its trial count raised to this one), else a new one; other terms are refused."""
    existing = read_budget(path)
    if existing is None:
        return BudgetFile(dataset_key, storage, budget, {})
    if existing.budget.terms() != budget.terms() or existing.storage != storage:
        differences = _differences(existing.budget.terms(), budget) or f"storage {existing.storage!r}"
        raise ConfigError(
            f"{path} states another budget for {dataset_key} ({differences}); every model of a dataset is "
            "tuned with one budget: re-run with that one, or give another --results"
        )
    lowered = budget.lowers(existing.budget)
    if lowered is not None:
        raise ConfigError(
            f"{path} states a larger budget for {dataset_key} ({_budget_size(existing.budget)} per model); "
            f"give {lowered}, or another --results"
        )
    return replace(existing, budget=budget)


def _with_entry(path: Path, document: BudgetFile, model: str, entry: ModelTuning) -> BudgetFile:
    """``document`` with ``model``'s line replaced by ``entry`` and every other model's line as the
    file now holds it: a ``tune-all`` of other models on the same results folder may have updated
    theirs since this one read the file."""
    current = read_budget(path)
    written = current.models if current is not None and current.budget == document.budget else {}
    return replace(document, models={**document.models, **written, model: entry})


def _budget_size(budget: TuningBudget) -> str:
    return f"{budget.trials} trials" + (" and the defaults trial" if budget.defaults_trial else "")


def _entry(name: str, plan: StudyPlan, study: Any = None) -> ModelTuning:
    """A model's line of the budget file: its space and trials and, once its study exists, its
    trials by state, their summed duration and its best trial."""
    from mmbench.search_space import describe
    from mmbench.tuning.defaults_trial import is_defaults_trial
    from mmbench.tuning.summary import tuning_seconds
    from mmbench.tuning.worker import trial_counts

    entry = ModelTuning(name, describe(plan.space), plan.trials, plan.single_point, plan.config.metric)
    if study is not None:
        entry.states = trial_counts(study)
        entry.tuning_seconds = round(tuning_seconds(study), 3)
        if entry.states.get("COMPLETE"):
            best = study.best_trial
            entry.best_trial, entry.valid_value = best.number, float(best.value)
            entry.best_is_defaults = is_defaults_trial(best)
    return entry


def _units(
    request: TuneAllRequest, tuned: dict[str, TunedParams], params_path: Callable[[str], Path]
) -> list[RunUnit]:
    """One training per tuned model and seed, configured and marked as ``run --tuned`` does."""
    from mmbench.parallel_runs import RunUnit

    return [
        RunUnit(f"{model} (tuned)", model, seed, params.overrides(), {"tuned": params.record(params_path(model))})
        for model, params in tuned.items()
        for seed in request.seeds
    ]


def _train(
    units: Sequence[RunUnit], request: TuneAllRequest, dataset: Dataset, registry: ModelRegistry,
    on_result: ResultPrinter,
) -> list[RunRecord]:
    """Train every unit, resuming unfinished ones and skipping finished ones: as many at a time as
    the request has workers (in worker processes, spread over the GPUs with ``gpus``), else here."""
    import torch

    from mmbench.experiment import run_model
    from mmbench.parallel_runs import RunSettings, run_units
    from mmbench.progress import TrainingProgress
    from mmbench.training.reproducibility import resolve_device

    device = "cuda" if request.gpus else str(resolve_device(request.device))
    jobs = len(request.gpus) if request.gpus else request.workers
    ks = request.ks or DEFAULT_KS
    if jobs > 1 and units:
        settings = RunSettings(
            dataset=request.dataset, datasets_root=request.datasets_root, protocols=request.protocols,
            device=device, results=request.results, resume=True, threads=request.threads,
            modalities=request.modalities, ks=ks,
        )
        return run_units(units, settings, dataset, jobs, on_result)
    if request.threads is not None:
        torch.set_num_threads(request.threads)
    records: list[RunRecord] = []
    for unit in units:
        runs = run_model(
            registry.get(unit.model), dataset, unit.seed, request.protocols, unit.overrides, torch.device(device),
            request.results, resume=True, progress=TrainingProgress(f"{unit.label} seed {unit.seed}"),
            extra=unit.extra, ks=ks,
        )
        for record in runs:
            on_result(unit.label, unit.seed, record)
        records.extend(runs)
    return records
