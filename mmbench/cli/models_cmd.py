"""``mmbench models``: the registered models, their hyperparameters and search spaces."""

from __future__ import annotations

import argparse
import dataclasses

from tabulate import tabulate

from mmbench.search_space import describe


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the registered models")
    parser.add_argument("name", nargs="?", help="show one model's hyperparameters and search space")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from mmbench.config import TrainConfig
    from mmbench.models.registry import default_registry

    registry = default_registry()
    if args.name:
        cls = registry.get(args.name)
        space = describe(cls.search_space)
        shared = {f.name for f in dataclasses.fields(TrainConfig)}
        rows = [
            [f.name, f.default, "trainer" if f.name in shared else "model", space.get(f.name, "")]
            for f in dataclasses.fields(cls.config_class)
        ]
        print(f"{cls.name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        print(tabulate(rows, headers=["key", "default", "kind", "search space"], tablefmt="simple"))
        for dataset, preset in sorted(cls.dataset_presets.items()):
            if preset:
                values = ", ".join(f"{key}={value}" for key, value in preset.items())
                print(f"on {dataset}, before --set: {values}")
        return 0
    rows = []
    for name in registry.names():
        cls = registry.get(name)
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        rows.append([name, "yes" if cls.needs_features else "no", summary])
    print(tabulate(rows, headers=["model", "needs features", "description"], tablefmt="simple"))
    return 0
