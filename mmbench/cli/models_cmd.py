"""``mmbench models``: the registered models, their hyperparameters and search spaces."""

from __future__ import annotations

import argparse
import dataclasses
import re

from tabulate import tabulate

from mmbench.search_space import describe


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list the registered models")
    parser.add_argument("name", nargs="?", help="show one model's hyperparameters and search space")
    parser.set_defaults(handler=handle)


def summary(cls: type) -> str:
    """The first line of a model's docstring, with reStructuredText roles shown as plain names."""
    first = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    return re.sub(r":[a-z]+:`~?([^`]+)`", lambda match: match.group(1).rsplit(".", 1)[-1], first).replace("``", "")


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
        print(f"{cls.name}: {summary(cls)}")
        print(tabulate(rows, headers=["key", "default", "kind", "search space"], tablefmt="simple"))
        for dataset, preset in sorted(cls.dataset_presets.items()):
            if preset:
                values = ", ".join(f"{key}={value}" for key, value in preset.items())
                print(f"on {dataset}, before --set: {values}")
        return 0
    rows = []
    for name in registry.names():
        cls = registry.get(name)
        rows.append([name, "yes" if cls.needs_features else "no", summary(cls)])
    print(tabulate(rows, headers=["model", "needs features", "description"], tablefmt="simple"))
    return 0
