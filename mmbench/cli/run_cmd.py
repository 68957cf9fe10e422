"""``mmbench run``: train and evaluate models, one record per (model, seed), then a leaderboard."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmbench.cli.common import (
    add_results_argument,
    add_training_arguments,
    check_training_arguments,
    overrides_extra,
    print_run_result,
    run_settings,
)
from mmbench.cli.datasets_cmd import add_dataset_arguments, dataset_from_args
from mmbench.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="train and evaluate models on a dataset",
        description="Train each model with each seed, select on validation, evaluate test once, "
        "write run records and print the leaderboard of these runs.",
    )
    parser.add_argument("--models", required=True, help="comma-separated model names (see `mmbench models`)")
    add_dataset_arguments(parser)
    add_training_arguments(parser, seeds_default="1", protocol_default="standard")
    tuned = parser.add_mutually_exclusive_group()
    tuned.add_argument(
        "--params", type=Path, metavar="FILE",
        help="train with the best parameters of a study (written by `mmbench tune --show`); one model only",
    )
    tuned.add_argument(
        "--tuned", action="store_true",
        help="train each model with its study's best parameters, RESULTS/tuned/MODEL-DATASET.json",
    )
    add_results_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    checked = check_training_arguments(args, args.models)
    # torch and the models load only now: a mistyped flag, name or seed is refused before them
    from mmbench.models.registry import default_registry
    from mmbench.parallel_runs import RunUnit, run_units
    from mmbench.report.leaderboard import render
    from mmbench.training.trainer import shares_selection

    seeds, protocols, overrides = checked.seeds, checked.protocols, checked.overrides
    shared = run_settings(args, checked)
    model_classes = default_registry().resolve(args.models)
    dataset = dataset_from_args(args)
    settings = {cls.name: _tuned_settings(args, cls.name, dataset.study_key, overrides) for cls in model_classes}
    for cls in model_classes:
        config = cls.config_for(dataset.name, settings[cls.name][0])
        if not shares_selection(protocols, config.metric):
            raise ConfigError(
                f"--protocol {args.protocol}: these protocols compute {config.metric} differently "
                "at validation, so one training cannot serve both; run them separately"
            )
    units = [
        RunUnit(cls.name, cls.name, seed, *settings[cls.name]) for cls in model_classes for seed in seeds
    ]
    records = run_units(units, shared, dataset, args.jobs, print_run_result)
    print()
    print(render(records))
    return 0


def _tuned_settings(
    args: argparse.Namespace, model: str, dataset: str, overrides: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Config overrides and record extras of one model: its tuned parameters under ``--params`` or
    ``--tuned`` (``--set`` and ``--epochs`` still win), marked in the record as ``"tuned"``; the
    command line's own overrides are marked as ``"overrides"``."""
    from mmbench.tuning.params import read_params, tuned_params_path
    from mmbench.tuning.storage import default_study_name

    if args.params is None and not args.tuned:
        return overrides, overrides_extra(overrides)
    path = args.params or tuned_params_path(args.results, default_study_name(model, dataset))
    tuned = read_params(path)
    if tuned.model != model:
        raise ConfigError(
            f"{path} holds parameters of {tuned.model!r}, not {model!r}; --params applies to one "
            f"model: run --models {tuned.model}"
        )
    if tuned.dataset != dataset:
        raise ConfigError(f"{path} was tuned on {tuned.dataset!r}, not {dataset!r}; tune on {dataset!r} first")
    return {**tuned.overrides(), **overrides}, {"tuned": tuned.record(path), **overrides_extra(overrides)}
