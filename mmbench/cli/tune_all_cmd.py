"""``mmbench tune-all``: every model tuned with one budget on one dataset, then each best
configuration trained and tested once per seed. The work is :func:`mmbench.tuning.tune_all.tune_models`;
this module only reads the flags and prints the leaderboard of the tuned runs."""

from __future__ import annotations

import argparse

from mmbench.cli.common import (
    add_ks_argument,
    add_modalities_argument,
    add_results_argument,
    ks_from_args,
    modalities_from_args,
    parse_int_list,
    parse_name_list,
    print_run_result,
)
from mmbench.cli.datasets_cmd import add_dataset_arguments
from mmbench.tuning.storage import DEFAULT_HEARTBEAT
from mmbench.tuning.study import PRUNERS, SAMPLERS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "tune-all", help="tune every model with one budget, then test each best configuration per seed",
        description="Give every named model (default: all registered) the same tuning budget on one "
        "dataset (trials, epoch cap, pruner, sampler and its seed), each in its own study MODEL-DATASET, "
        "on validation only; then train each best configuration once per seed and read test once per "
        "run, as `mmbench run --tuned` does. Re-running the same command continues where it stopped. "
        "The budget and every model's search space go to RESULTS/tuned/budget-DATASET.json for "
        "`mmbench report`.",
    )
    add_dataset_arguments(parser)
    parser.add_argument("--models", help="comma-separated model names (default: every registered model)")
    parser.add_argument("--trials", type=int, required=True, help="finished trials every study should hold")
    parser.add_argument("--epochs", type=int, required=True, help="maximum epochs of every trial (the epoch cap)")
    parser.add_argument(
        "--pruner", choices=PRUNERS, default="median",
        help="stop poor trials early by their validation curve (default: median)",
    )
    parser.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Optuna sampler (default: tpe)")
    parser.add_argument(
        "--sampler-seed", type=int, default=0, metavar="S",
        help="seed of every study's sampler; each worker derives its own from it (default: 0)",
    )
    parser.add_argument(
        "--defaults-trial", action=argparse.BooleanOptionalAction, default=True,
        help="give every study one more trial, of the model's own defaults and never pruned, so no tuned "
        "row rests on a configuration its defaults beat on validation; part of the budget (default: on)",
    )
    parser.add_argument("--seed", type=int, default=1, help="training seed of every trial (default: 1)")
    parser.add_argument(
        "--set", dest="assignments", action="append", metavar="KEY=VALUE",
        help="fix a config key in every trial of every model (patience=5, say), repeatable; part of the budget",
    )
    parallel = parser.add_mutually_exclusive_group()
    parallel.add_argument(
        "--workers", type=int, default=1,
        help="worker processes on this machine for each study, then trainings at a time (default: 1)",
    )
    parallel.add_argument(
        "--gpus", help="comma-separated GPU indices, one tuning worker pinned to each (0,0 runs two on GPU 0)"
    )
    parser.add_argument(
        "--timeout", type=float, metavar="S",
        help="per study, stop starting trials after S seconds: a study left short of --trials is "
        "marked unfinished in the report, its best trial so far is trained, and the same command "
        "without --timeout continues it",
    )
    parser.add_argument(
        "--seeds", default="1,2,3", help="seeds of the trainings of each best configuration (default: 1,2,3)"
    )
    parser.add_argument(
        "--protocol", default="standard",
        help="evaluation protocol(s) of those trainings, comma-separated; the first selects the epoch "
        "(default: standard)",
    )
    add_modalities_argument(parser)
    add_ks_argument(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch in each worker")
    parser.add_argument(
        "--storage", help="Optuna storage URL (default: sqlite:///RESULTS/tuning.db); see `mmbench tune --help`"
    )
    parser.add_argument(
        "--heartbeat", type=int, default=DEFAULT_HEARTBEAT,
        help="seconds between a worker's heartbeats; a trial silent for 3 of them is failed and retried "
        "(default: %(default)s)",
    )
    add_results_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import optuna

    from mmbench.evaluation.protocols import get_protocol
    from mmbench.models.registry import default_registry
    from mmbench.tuning.budget import TuningBudget
    from mmbench.tuning.launcher import parse_gpus
    from mmbench.tuning.tune_all import TuneAllRequest, tune_models

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if args.models is not None:
        default_registry().check(args.models)
    request = TuneAllRequest(
        models=tuple(parse_name_list(args.models or "")),
        dataset=args.dataset,
        results=args.results,
        budget=TuningBudget(
            trials=args.trials, epochs=args.epochs, pruner=args.pruner, sampler=args.sampler,
            sampler_seed=args.sampler_seed, seed=args.seed, fixed=tuple(args.assignments or ()),
            defaults_trial=args.defaults_trial,
        ),
        seeds=tuple(parse_int_list(args.seeds, "--seeds")),
        protocols=tuple(get_protocol(name).name for name in parse_name_list(args.protocol)),
        datasets_root=args.datasets_root,
        modalities=modalities_from_args(args),
        ks=ks_from_args(args) if args.ks is not None else None,
        storage=args.storage,
        device=args.device,
        threads=args.threads,
        workers=args.workers,
        gpus=tuple(parse_gpus(args.gpus)) if args.gpus else None,
        heartbeat=args.heartbeat,
        timeout=args.timeout,
    )
    outcome = tune_models(request, on_result=print_run_result)
    print(f"budget and search spaces -> {outcome.budget_file}", flush=True)
    if outcome.status != 0:
        return outcome.status
    from mmbench.report.leaderboard import render

    print()
    print(render(outcome.records))
    print("\nthe tuned tables, the tuning cost and the cost figure: mmbench report --results "
          f"{args.results}", flush=True)
    return 0
