"""``mmbench sweep``: train one model at several values of one hyperparameter, one record each.

Each run is an ordinary run record with ``"sweep": {"param": P, "value": V}`` added, so that
``mmbench plot sensitivity`` can find it and the leaderboards can keep it out of the main tables.
"""

from __future__ import annotations

import argparse
import json

from mmbench.cli.common import (
    add_results_argument,
    add_training_arguments,
    check_training_arguments,
    parse_name_list,
    print_run_result,
    run_settings,
)
from mmbench.cli.datasets_cmd import add_dataset_arguments, dataset_from_args
from mmbench.config import TrainConfig, apply_overrides
from mmbench.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep", help="train a model at several values of one hyperparameter",
        description="Train MODEL once per value of PARAM (and per seed), each run recorded with "
        "its sweep point; plot the result with `mmbench plot sensitivity`. Sweep runs are left out "
        "of `mmbench leaderboard` and `mmbench report` tables unless --include-sweeps is given.",
    )
    parser.add_argument("--model", required=True, help="model name (see `mmbench models`)")
    parser.add_argument("--param", required=True, help="the config key to vary (see `mmbench models NAME`)")
    parser.add_argument("--values", required=True, help="comma-separated values of PARAM, e.g. 1,2,3")
    add_dataset_arguments(parser)
    add_training_arguments(parser, seeds_default="1", protocol_default="standard")
    add_results_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    checked = check_training_arguments(args, args.model)
    # torch and the models load only now: a mistyped flag, name or seed is refused before them
    from mmbench.models.registry import default_registry
    from mmbench.parallel_runs import RunUnit, run_units
    from mmbench.report.leaderboard import render
    from mmbench.training.trainer import shares_selection

    seeds, protocols, overrides = checked.seeds, checked.protocols, checked.overrides
    shared = run_settings(args, checked)
    model_class = default_registry().get(args.model.strip())
    dataset = dataset_from_args(args)
    points = sweep_points(model_class.config_for(dataset.name), args.param, parse_name_list(args.values), overrides)
    for raw, config in points:
        if not shares_selection(protocols, config.metric):
            raise ConfigError(
                f"--protocol {args.protocol}: these protocols compute {config.metric} differently at "
                f"validation ({args.param}={raw}), so one training cannot serve both; sweep them separately"
            )
    units = [
        RunUnit(
            f"{model_class.name} {args.param}={raw}", model_class.name, seed, {**overrides, args.param: raw},
            {"sweep": {"param": args.param, "value": getattr(config, args.param)}},
        )
        for raw, config in points
        for seed in seeds
    ]
    records = run_units(units, shared, dataset, args.jobs, print_run_result)
    print()
    print(render(records))
    print(
        f"\nplot it: mmbench plot sensitivity --model {model_class.name} --param {args.param} "
        f"--dataset {dataset.name} --protocol {protocols[0]}"
    )
    return 0


def sweep_points(
    config: TrainConfig, param: str, values: list[str], overrides: dict[str, str]
) -> list[tuple[str, TrainConfig]]:
    """Each raw value of ``param`` with the full config it gives; bad keys or values fail before training.

    ``param`` must be a key of ``config`` that ``overrides`` does not also set, and the values must
    be distinct once typed (``2`` and ``2.0`` for an int key are the same point).
    """
    if not values:
        raise ConfigError("--values expects at least one value, for example --values 1,2,3")
    if param in overrides:
        raise ConfigError(f"--param {param} is also given with --set or --epochs; give it in --values only")
    points, seen = [], set()
    for raw in values:
        point = apply_overrides(config, {**overrides, param: raw})
        value = getattr(point, param)
        key = json.dumps(value, sort_keys=True)
        if key in seen:
            raise ConfigError(f"--values gives {param}={value!r} twice")
        seen.add(key)
        points.append((raw, point))
    return points
