"""``mmbench ablate``: run a model's declared ablation variants next to the full model.

Each variant is a set of config overrides the model declares
(:meth:`~mmbench.models.base.RecModel.ablation_variants`, which sees the dataset's modalities, so
"one variant per modality removed" follows the data). Every run is a normal run record, marked
with ``"variant"`` (``"full"`` for the unablated model), which ``mmbench plot ablation`` and the
leaderboards read.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mmbench.cli.common import (
    add_results_argument,
    add_training_arguments,
    check_training_arguments,
    overrides_extra,
    parse_name_list,
    print_run_result,
    run_settings,
)
from mmbench.cli.datasets_cmd import add_dataset_arguments, dataset_from_args
from mmbench.errors import ConfigError

if TYPE_CHECKING:
    from mmbench.models.base import AblationVariant

FULL = "full"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ablate", help="run a model's ablation variants (and the full model) with several seeds",
        description="Train the full model and each ablation variant it declares, with each seed; "
        "every run is a record marked with its variant.",
    )
    parser.add_argument("--model", required=True, help="model name (see `mmbench models`)")
    add_dataset_arguments(parser)
    parser.add_argument(
        "--variants",
        help=f"comma-separated variants to run, '{FULL}' for the full model (default: the full model "
        "and every declared variant)",
    )
    add_training_arguments(parser, seeds_default="1,2,3", protocol_default="lattice")
    add_results_argument(parser)
    parser.set_defaults(handler=handle)


def select_variants(
    declared: dict[str, AblationVariant], model: str, requested: str | None
) -> dict[str, AblationVariant]:
    """The variants to run, in a stable order: the full model first, then the declared ones."""
    from mmbench.models.base import AblationVariant

    if not declared:
        raise ConfigError(
            f"model {model!r} declares no ablation variants for these feature sets; "
            f"`mmbench models {model}` lists its keys"
        )
    available = {FULL: AblationVariant(), **declared}
    if requested is None:
        return available
    names = parse_name_list(requested)
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        raise ConfigError(
            f"unknown variant(s) {', '.join(unknown) or repr(requested)} for {model!r}; "
            f"valid variants: {', '.join(available)}"
        )
    return {name: available[name] for name in available if name in names}


def handle(args: argparse.Namespace) -> int:
    checked = check_training_arguments(args, args.model)
    # torch and the models load only now: a mistyped flag, name or seed is refused before them
    from mmbench.models.registry import default_registry
    from mmbench.parallel_runs import RunUnit, run_units
    from mmbench.report.leaderboard import render

    seeds, overrides = checked.seeds, checked.overrides
    shared = run_settings(args, checked)
    model_class = default_registry().get(args.model.strip())
    dataset = dataset_from_args(args)
    variants = select_variants(model_class.ablation_variants(dataset.modalities), args.model, args.variants)
    for changes in variants.values():
        model_class.config_for(dataset.name, {**overrides, **changes.overrides})
    units = [
        RunUnit(
            f"{model_class.name} [{variant}]", model_class.name, seed, {**overrides, **changes.overrides},
            {"variant": variant, **overrides_extra(overrides)}, changes.modalities,
        )
        for variant, changes in variants.items()
        for seed in seeds
    ]
    records = run_units(units, shared, dataset, args.jobs, print_run_result)
    print()
    print(render(records))
    return 0
