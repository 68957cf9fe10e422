"""``mmbench tune``: Optuna search over a model's space, on validation only, from one CPU to many
machines sharing one storage; ``--show`` prints the best trial and writes its parameters file.
The tuning itself is :func:`mmbench.tuning.tune.tune_model`; this module only reads the flags."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmbench.cli.common import (
    add_ks_argument,
    add_modalities_argument,
    add_results_argument,
    ks_from_args,
    modalities_from_args,
)
from mmbench.cli.datasets_cmd import add_dataset_arguments, dataset_from_args
from mmbench.errors import ConfigError
from mmbench.tuning.storage import DEFAULT_HEARTBEAT
from mmbench.tuning.study import PRUNERS, SAMPLERS
from mmbench.tuning.tune import TuneRequest


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
        "--sampler-seed", type=int, metavar="S",
        help="seed of the sampler; each worker derives its own from it (default: unseeded)",
    )
    parser.add_argument(
        "--pruner", choices=PRUNERS, default="median",
        help="stop poor trials early by their validation curve (default: median)",
    )
    parser.add_argument(
        "--defaults-trial", action=argparse.BooleanOptionalAction, default=False,
        help="add one trial of the model's own defaults, never pruned, to the --trials drawn, so the best "
        "trial is never one the defaults beat (default: off; tune-all has it on)",
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
        "--heartbeat", type=int, default=DEFAULT_HEARTBEAT,
        help="seconds between a worker's heartbeats; a trial silent for 3 of them is failed and retried "
        "(default: %(default)s)",
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
    from mmbench.tuning.tune import tune_model

    outcome = tune_model(_request(args))
    if args.worker_index is None:
        _report(args, outcome.study, outcome.storage_url)
    return outcome.status


def _request(args: argparse.Namespace) -> TuneRequest:
    """The study this command line asks for."""
    from mmbench.tuning.launcher import parse_gpus

    if not (args.model and args.dataset):
        raise ConfigError("mmbench tune needs --model and --dataset (or --show with --study)")
    return TuneRequest(
        model=args.model, dataset=args.dataset, results=args.results, trials=args.trials,
        datasets_root=args.datasets_root, modalities=modalities_from_args(args), ks=ks_from_args(args),
        storage=args.storage, study=args.study, epochs=args.epochs, assignments=tuple(args.assignments or ()),
        metric=args.metric, space_file=args.space, sampler=args.sampler, sampler_seed=args.sampler_seed,
        pruner=args.pruner, seed=args.seed, timeout=args.timeout, device=args.device, threads=args.threads,
        workers=args.workers, gpus=tuple(parse_gpus(args.gpus)) if args.gpus else None,
        heartbeat=args.heartbeat, worker_index=args.worker_index, defaults_trial=args.defaults_trial,
    )


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
    """Print the study and write its best parameters file."""
    from mmbench.tuning.params import tuned_params_path
    from mmbench.tuning.storage import storage_label
    from mmbench.tuning.summary import describe_study
    from mmbench.tuning.tune import save_best

    print(describe_study(study, storage_url), flush=True)
    label = storage_label(storage_url, args.results)
    path = args.params_out or tuned_params_path(args.results, study.study_name, label)
    tuned = save_best(study, label, path)
    if tuned is not None:
        print(f"best parameters -> {path}; use them with `mmbench run --models {tuned.model} "
              f"--dataset {args.dataset or tuned.dataset} --params {path}`", flush=True)
