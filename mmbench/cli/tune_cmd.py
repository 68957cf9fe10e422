"""``mmbench tune``: Optuna search over a model's space, on validation only, from one CPU to many
machines sharing one storage; ``--show`` prints the best trial and writes its parameters file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from mmbench.cli.common import add_ks_argument, add_modalities_argument, add_results_argument, ks_from_args
from mmbench.cli.datasets_cmd import add_dataset_arguments, dataset_from_args
from mmbench.errors import ConfigError
from mmbench.tuning.study import PRUNERS, SAMPLERS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune", help="tune a model's hyper-parameters with Optuna (validation only)",
        description="Run Optuna trials of one model on one dataset. Each trial trains with the "
        "trial's parameters and is scored on validation; test is never read. Re-running the "
        "same command resumes the study. Several workers (--workers, --gpus, or the same command "
        "on several machines with one --storage) share the study through its storage.",
    )
    parser.add_argument("--model", help="model name (see `mmbench models`)")
    add_dataset_arguments(parser, required=False)
    add_modalities_argument(parser)
    add_ks_argument(parser)
    parser.add_argument("--trials", type=int, default=20, help="finished trials the study should hold (default: 20)")
    parser.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    parser.add_argument(
        "--storage", help="Optuna storage URL: sqlite:///FILE, postgresql://USER:PASSWORD@HOST/DB or "
        "journal:FILE (default: sqlite:///RESULTS/tuning.db)",
    )
    parser.add_argument("--study", help="study name (default: MODEL-DATASET)")
    parallel = parser.add_mutually_exclusive_group()
    parallel.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default: 1)")
    parallel.add_argument(
        "--gpus", help="comma-separated GPU indices, one worker pinned to each (0,0 runs two on GPU 0)"
    )
    parser.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler (default: tpe)")
    parser.add_argument(
        "--pruner", choices=PRUNERS, default="median",
        help="stop poor trials early by their validation curve (default: median)",
    )
    parser.add_argument("--metric", help="validation metric to maximise (default: the model's, recall@20)")
    parser.add_argument("--space", type=Path, metavar="FILE", help="JSON search-space file that replaces or adds ranges")
    parser.add_argument("--epochs", type=int, help="maximum epochs of every trial (an epoch budget)")
    parser.add_argument(
        "--set", dest="assignments", action="append", metavar="KEY=VALUE",
        help="fix a config key in every trial (taken out of the search space), repeatable",
    )
    parser.add_argument("--seed", type=int, default=1, help="training seed of every trial (default: 1)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch in each worker")
    parser.add_argument(
        "--heartbeat", type=int, default=10,
        help="seconds between a worker's heartbeats; a trial silent for 3 of them is failed and retried (default: 10)",
    )
    parser.add_argument("--show", action="store_true", help="print the best trial and write its parameters file; train nothing")
    parser.add_argument(
        "--params-out", type=Path, metavar="FILE",
        help="where the best parameters go (default: RESULTS/tuned/STUDY.json)",
    )
    parser.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)
    add_results_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import optuna

    from mmbench.tuning.storage import default_storage_url, open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage_url = args.storage or default_storage_url(args.results)
    if args.show:
        return _show(args, storage_url, open_storage(storage_url, args.heartbeat, create=False))
    return _tune(args, storage_url)


def _study_name(args: argparse.Namespace) -> str:
    from mmbench.tuning.storage import default_study_name

    if args.study:
        return args.study
    if not (args.model and args.dataset):
        raise ConfigError("name the study with --study, or give --model and --dataset")
    return default_study_name(args.model, dataset_from_args(args).study_key)


def _show(args: argparse.Namespace, storage_url: str, storage: Any) -> int:
    import optuna

    name = _study_name(args)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise ConfigError(f"no study {name!r} in {storage_url}; run `mmbench tune` first or check --storage") from None
    _report(args, study, storage_url)
    return 0


def _report(args: argparse.Namespace, study: Any, storage_url: str) -> None:
    from mmbench.tuning.params import tuned_params_path, write_params
    from mmbench.tuning.summary import best_params, describe_study
    from mmbench.tuning.worker import trial_counts

    print(describe_study(study, storage_url), flush=True)
    if trial_counts(study).get("COMPLETE"):
        path = args.params_out or tuned_params_path(args.results, study.study_name)
        tuned = best_params(study, storage_url)
        write_params(path, tuned)
        print(f"best parameters -> {path}; use them with `mmbench run --models {tuned.model} "
              f"--dataset {args.dataset or tuned.dataset} --params {path}`", flush=True)


def _tune(args: argparse.Namespace, storage_url: str) -> int:
    from mmbench.data.catalog import resolve
    from mmbench.models.registry import default_registry

    if not (args.model and args.dataset):
        raise ConfigError("mmbench tune needs --model and --dataset (or --show with --study)")
    default_registry().check(args.model)
    resolve(args.dataset, args.datasets_root)
    ks = ks_from_args(args)
    if args.trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {args.trials}")
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")
    # torch and the models load only now: a mistyped flag, name or dataset is refused before them
    import torch

    from mmbench.config import apply_overrides, parse_assignments
    from mmbench.progress import Progress
    from mmbench.training.reproducibility import resolve_device
    from mmbench.tuning import launcher
    from mmbench.tuning.objective import Objective
    from mmbench.tuning.space import load_space_file, study_space
    from mmbench.tuning.storage import default_study_name, has_heartbeat, open_storage
    from mmbench.tuning.study import make_pruner, make_sampler, open_study, setup_for
    from mmbench.tuning.worker import Worker

    gpus = launcher.parse_gpus(args.gpus) if args.gpus else None
    if gpus and args.worker_index is None:
        launcher.check_gpus(gpus, torch.cuda.device_count() if torch.cuda.is_available() else 0)
    model_class = default_registry().get(args.model)
    assigned: dict[str, Any] = parse_assignments(args.assignments)
    if args.epochs is not None:
        assigned["epochs"] = str(args.epochs)
    if args.metric is not None:
        assigned["metric"] = args.metric
    config = apply_overrides(model_class.config_class(), assigned)
    fixed = {key: getattr(config, key) for key in assigned}
    file_space = load_space_file(args.space, model_class.config_class) if args.space else None
    space = study_space(model_class.config_class, model_class.search_space, file_space, fixed)
    sampler = make_sampler(args.sampler, space)
    device = resolve_device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dataset = dataset_from_args(args)
    storage = open_storage(storage_url, args.heartbeat)
    name = args.study or default_study_name(model_class.name, dataset.study_key)
    setup = setup_for(model_class.name, dataset.study_key, config.metric, args.seed, fixed, space)
    study = open_study(storage, name, setup, sampler, make_pruner(args.pruner))
    started = time.monotonic()
    try:
        if gpus or args.workers > 1:
            status = _launch(args, study, storage_url, gpus)
        else:
            label = "" if args.worker_index is None else f"[worker {args.worker_index}] "
            objective = Objective(model_class, dataset, space, fixed, args.seed, device, ks=ks)
            worker = Worker(
                study, objective, args.trials, has_heartbeat(storage), args.timeout, label,
                echo=lambda line: print(line, flush=True),
                progress=Progress() if args.worker_index is None else Progress(enabled=False),
            )
            objective.on_epoch = worker.show_epoch
            worker.run()
            status = 0
    except KeyboardInterrupt:
        print(f"\ninterrupted after {time.monotonic() - started:.0f} s: finished trials are kept; "
              "re-run the same command to continue", flush=True)
        status = 130
    if args.worker_index is None:
        _report(args, study, storage_url)
    return status


def _launch(args: argparse.Namespace, study: Any, storage_url: str, gpus: list[int] | None) -> int:
    """Start the worker processes, show their joint progress, and say how they ended."""
    from mmbench.progress import Progress
    from mmbench.tuning import launcher
    from mmbench.tuning.worker import FINISHED, trial_counts

    workers = len(gpus) if gpus else args.workers
    specs = launcher.worker_specs(_worker_args(args, storage_url, study.study_name, workers), args.workers, gpus)
    print(f"starting {len(specs)} workers on study {study.study_name}", flush=True)
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
        progress.update(f"trials done {done}/{args.trials} | best {best} | running: {', '.join(running) or '-'}")

    try:
        codes = launcher.run_workers(specs, show)
    finally:
        progress.close()
    counts = trial_counts(study)
    finished = sum(counts.get(state, 0) for state in FINISHED)
    for index, code in enumerate(codes):
        if code != 0:
            print(f"worker {index} exited with status {code}", flush=True)
    if finished < args.trials and args.timeout is None:
        print(f"the study holds {finished} of {args.trials} trials: re-run the same command to finish it", flush=True)
        return 1
    return 0


def _worker_args(args: argparse.Namespace, storage_url: str, study: str, workers: int) -> list[str]:
    """The options every worker process shares: this command's, with storage and study resolved
    and, without --threads, the CPU cores shared out between the ``workers``."""
    from mmbench.threads import threads_per_worker

    argv = [
        "--model", args.model, "--dataset", args.dataset, "--trials", str(args.trials),
        "--storage", storage_url, "--study", study, "--sampler", args.sampler, "--pruner", args.pruner,
        "--seed", str(args.seed), "--heartbeat", str(args.heartbeat), "--results", str(args.results),
    ]
    optional = {
        "--datasets-root": args.datasets_root, "--timeout": args.timeout, "--metric": args.metric,
        "--space": args.space, "--epochs": args.epochs, "--threads": threads_per_worker(args.threads, workers),
        "--modalities": args.modalities, "--ks": args.ks,
    }
    for flag, value in optional.items():
        if value is not None:
            argv += [flag, str(value)]
    for assignment in args.assignments or []:
        argv += ["--set", assignment]
    if not args.gpus:
        argv += ["--device", args.device]
    return argv
