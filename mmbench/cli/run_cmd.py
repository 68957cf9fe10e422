"""``mmbench run``: train and evaluate models, one record per (model, seed), then a leaderboard."""

from __future__ import annotations

import argparse

from mmbench.cli.common import add_results_argument, parse_int_list, parse_name_list
from mmbench.cli.datasets_cmd import add_dataset_arguments, dataset_from_args
from mmbench.config import apply_overrides, parse_assignments
from mmbench.errors import ConfigError
from mmbench.evaluation.protocols import get_protocol


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="train and evaluate models on a dataset",
        description="Train each model with each seed, select on validation, evaluate test once, "
        "write run records and print the leaderboard of these runs.",
    )
    parser.add_argument("--models", required=True, help="comma-separated model names (see `mmbench models`)")
    add_dataset_arguments(parser)
    parser.add_argument("--seeds", default="1", help="comma-separated seeds, one run each (default: 1)")
    parser.add_argument(
        "--protocol", default="standard",
        help="evaluation protocol(s), comma-separated: standard (test masks train+valid items, "
        "standard NDCG) and/or lattice (the LATTICE/MMSSL code lineage); the first selects the "
        "epoch, the others reuse the training when they select identically (default: standard)",
    )
    parser.add_argument("--epochs", type=int, help="maximum epochs (overrides the model's default)")
    parser.add_argument(
        "--set", dest="assignments", action="append", metavar="KEY=VALUE",
        help="override a config key, repeatable (see `mmbench models NAME` for the keys)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument(
        "--threads", type=int, help="CPU threads for torch (default: torch's own choice)"
    )
    parser.add_argument("--resume", action="store_true", help="continue unfinished runs from their checkpoint")
    add_results_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    # torch and the models load here, not at start-up, so that other commands start fast
    import torch

    from mmbench.experiment import run_model
    from mmbench.models.registry import default_registry
    from mmbench.progress import Progress
    from mmbench.report.leaderboard import render
    from mmbench.training.reproducibility import resolve_device
    from mmbench.training.trainer import shares_selection

    registry = default_registry()
    model_classes = registry.resolve(args.models)
    seeds = parse_int_list(args.seeds, "--seeds")
    protocols = [get_protocol(name).name for name in parse_name_list(args.protocol)]
    overrides = parse_assignments(args.assignments)
    if args.epochs is not None:
        overrides["epochs"] = str(args.epochs)
    for cls in model_classes:
        config = apply_overrides(cls.config_class(), overrides)
        if not shares_selection(protocols, config.metric):
            raise ConfigError(
                f"--protocol {args.protocol}: these protocols compute {config.metric} differently "
                "at validation, so one training cannot serve both; run them separately"
            )
    device = resolve_device(args.device)
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    dataset = dataset_from_args(args)
    records = []
    for cls in model_classes:
        for seed in seeds:
            progress = Progress()
            progress.update(f"{cls.name} seed {seed}: starting", force=True)
            runs = run_model(
                cls, dataset, seed, protocols, overrides, device, args.results,
                resume=args.resume, progress=progress,
            )
            for record in runs:
                test = record.data["metrics"]["test"]
                print(
                    f"{cls.name} seed {seed} [{record.protocol}]: best epoch {record.data['best_epoch']}, "
                    f"test recall@20 {test['recall@20']:.4f} ndcg@20 {test['ndcg@20']:.4f} "
                    f"({record.data['timing']['train_seconds']:.0f} s training) -> {record.path}",
                    flush=True,
                )
            records.extend(runs)
    print()
    print(render(records))
    return 0
