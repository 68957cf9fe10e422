"""``mmbench datasets list|info|validate|import``, and the ``--dataset`` flag other commands share.

Commands that need data (run, evaluate, ...) call :func:`add_dataset_arguments` on their parser
and :func:`dataset_from_args` in their handler, so that ``--dataset NAME|PATH`` and
``--datasets-root DIR`` mean the same thing everywhere.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from mmbench.cli.common import modalities_from_args
from mmbench.data.catalog import CatalogEntry, default_datasets_root, list_shipped, resolve

if TYPE_CHECKING:
    from mmbench.data.dataset import Dataset

_ROOT_HELP = "folder of named datasets (default: the repository's datasets/ folder)"


def add_dataset_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Add ``--dataset NAME|PATH`` and ``--datasets-root DIR`` to a command's parser."""
    parser.add_argument(
        "--dataset",
        metavar="NAME|PATH",
        required=required,
        help="a dataset name (see `mmbench datasets list`) or a dataset folder "
        "(MMRec .inter or MMSSL/LATTICE train/val/test.json layout)",
    )
    parser.add_argument("--datasets-root", type=Path, metavar="DIR", default=None, help=_ROOT_HELP)


def dataset_from_args(args: argparse.Namespace) -> Dataset:
    """Load the dataset that ``--dataset`` / ``--datasets-root`` name (checked and validated), with
    the feature sets ``--modalities`` selects where the command has that flag."""
    from mmbench.data.loading import load_dataset

    return load_dataset(args.dataset, args.datasets_root).with_modalities(modalities_from_args(args))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``datasets`` command and its four actions."""
    parser = subparsers.add_parser(
        "datasets",
        help="list, inspect, validate and import datasets",
        description="List, inspect, validate and import datasets.",
    )
    parser.add_argument("--datasets-root", type=Path, metavar="DIR", default=None, help=_ROOT_HELP)
    actions = parser.add_subparsers(dest="datasets_action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="the named datasets with their counts")
    listing.set_defaults(handler=_list)

    info = actions.add_parser("info", help="statistics, modalities, checksum and warnings")
    info.add_argument("dataset", metavar="NAME|PATH")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(handler=_info)

    validate = actions.add_parser("validate", help="check a dataset folder; exit 2 if invalid")
    validate.add_argument("path", metavar="PATH")
    validate.set_defaults(handler=_validate)

    probing = actions.add_parser(
        "probe", help="how much each feature set alone predicts held-out items (item-kNN content probe)",
        description="Score items by their kNN-graph similarity, in one feature set, to each user's "
        "training items, and evaluate that ranking next to popularity and a random ranking; with "
        "--shuffled-control each feature set is probed again with its rows permuted, which must "
        "fall to the random level if the rows line up with the item ids.",
    )
    probing.add_argument("dataset", metavar="NAME|PATH")
    probing.add_argument("--modalities", metavar="NAMES", help="feature sets to probe (default: all the dataset has)")
    probing.add_argument("--split", choices=("test", "valid"), default="test")
    probing.add_argument("--protocol", choices=("standard", "lattice"), default="standard")
    probing.add_argument("--k", type=int, default=10, help="neighbours per item in the kNN graph (default: 10)")
    probing.add_argument("--shuffled-control", action="store_true", help="add a rows-shuffled row per feature set")
    probing.add_argument("--json", action="store_true", help="print one JSON object: scorer -> metrics")
    probing.set_defaults(handler=_probe)

    importing = actions.add_parser(
        "import", help="copy a dataset folder (either layout) into the catalogue, checked"
    )
    importing.add_argument("path", metavar="PATH", type=Path)
    importing.add_argument("--name", required=True, help="the new dataset's name")
    importing.add_argument(
        "--dest", type=Path, metavar="DIR", default=None,
        help="where to create NAME/ (default: the datasets root)",
    )
    importing.add_argument("--overwrite", action="store_true", help="replace an earlier import")
    importing.set_defaults(handler=_import)

    for action in (listing, info, validate, probing, importing):
        # Also accepted after the action; SUPPRESS keeps a value given before it.
        action.add_argument(
            "--datasets-root", type=Path, metavar="DIR", default=argparse.SUPPRESS, help=_ROOT_HELP
        )


def _root(args: argparse.Namespace) -> Path:
    return args.datasets_root if args.datasets_root is not None else default_datasets_root()


def _list(args: argparse.Namespace) -> int:
    from mmbench.data.dataset import SPLITS

    entries = list_shipped(args.datasets_root)
    if not entries:
        print(f"no datasets in {_root(args)}")
        return 0
    header = ("name", "origin", "users", "items", "train", "valid", "test", "modalities")
    rows = [header]
    for entry in entries:
        summary = entry.summary()
        counts = summary["interactions"]
        modalities = ", ".join(f"{m} {d}-d" for m, d in summary["modalities"].items()) or "none"
        rows.append(
            (
                entry.name,
                entry.origin,
                _count(summary["users"]),
                _count(summary["items"]),
                *(_count(counts.get(split)) for split in SPLITS),
                modalities,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"\n(from {_root(args)}; any dataset folder path is accepted too)")
    return 0


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def _info(args: argparse.Namespace) -> int:
    from mmbench.data.loading import load_dataset

    target = resolve(args.dataset, args.datasets_root)
    dataset = load_dataset(args.dataset, args.datasets_root, warn=False)
    report = _report(dataset, target if isinstance(target, CatalogEntry) else None)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_format_report(report))
    return 0


def _report(dataset: Dataset, entry: CatalogEntry | None) -> dict[str, Any]:
    """Everything ``info`` shows, as JSON-ready data."""
    from mmbench.data.card import split_statistics
    from mmbench.data.validation import dataset_warnings

    provenance = dataset.provenance
    assert provenance is not None, "load_dataset always records provenance"
    return {
        "name": dataset.name,
        "origin": entry.origin if entry else "folder",
        "path": provenance.path,
        "layout": provenance.layout,
        "statistics": dataset.statistics(),
        "splits": split_statistics(dataset),
        "checksum": provenance.checksum,
        "file_sha256": dict(provenance.file_sha256),
        "warnings": dataset_warnings(dataset),
        "citation": [c.get("text", "") for c in entry.manifest.get("citation", [])] if entry else [],
    }


def _format_report(report: dict[str, Any]) -> str:
    stats = report["statistics"]
    modalities = ", ".join(f"{m} {d}-d" for m, d in stats["modalities"].items()) or "none"
    lines = [
        f"{report['name']} ({report['origin']}, {report['layout']} layout)",
        f"  path:          {report['path']}",
        f"  users:         {stats['users']:,}",
        f"  items:         {stats['items']:,}",
        f"  interactions:  {stats['total_interactions']:,} "
        f"(density {100 * stats['density']:.3f}%)",
    ]
    for split, row in report["splits"].items():
        lines.append(
            f"    {split:<6} {row['interactions']:>9,} interactions, "
            f"{row['users_with_any']:,} users with >= 1 "
            f"(mean {row['mean_items_per_user']:.2f} items each), {row['items_with_any']:,} items"
        )
    lines += [
        f"  users without train: {stats['users_without_train']:,}",
        f"  cold items:          {stats['cold_items']:,}",
        f"  modalities:    {modalities}",
        f"  checksum:      {report['checksum']}",
        "  files:",
        *(f"    {name}  sha256 {sha}" for name, sha in sorted(report["file_sha256"].items())),
    ]
    if report["warnings"]:
        lines += ["  warnings:", *(f"    - {message}" for message in report["warnings"])]
    if report["citation"]:
        lines += ["  cite:", *(f"    - {text}" for text in report["citation"])]
    return "\n".join(lines)


def _probe(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from mmbench.data.loading import load_dataset
    from mmbench.errors import ConfigError
    from mmbench.evaluation.content_probe import probe

    if args.k < 1:
        raise ConfigError(f"--k must be at least 1, got {args.k}")
    dataset = load_dataset(args.dataset, args.datasets_root, warn=False)
    rows = probe(
        dataset, modalities_from_args(args), args.split, args.protocol, args.k,
        shuffled_control=args.shuffled_control,
    )
    if args.json:
        print(json.dumps({row.name: row.metrics for row in rows}, sort_keys=True))
        return 0
    metrics = ("recall@20", "ndcg@20", "recall@50")
    print(f"{dataset.name}: content probe (item kNN, k = {args.k}), split {args.split}, protocol {args.protocol}")
    table = [[row.name, *(row.metrics.get(m) for m in metrics)] for row in rows]
    print(tabulate(table, headers=["scorer", *metrics], floatfmt=".4f", missingval="-"))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from mmbench.data.dataset import SPLITS
    from mmbench.data.loading import load_dataset

    dataset = load_dataset(args.path, args.datasets_root)
    stats = dataset.statistics()
    counts = " / ".join(f"{stats['interactions'][split]:,}" for split in SPLITS)
    modalities = ", ".join(f"{m} {d}-d" for m, d in stats["modalities"].items()) or "none"
    provenance = dataset.provenance
    assert provenance is not None, "load_dataset always records provenance"
    print(
        f"OK: {args.path} ({provenance.layout} layout): {stats['users']:,} users, {stats['items']:,} items, "
        f"{counts} interactions (train / valid / test); modalities: {modalities}"
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    from mmbench.data.importer import import_dataset

    dest = args.dest if args.dest is not None else _root(args)
    target = import_dataset(args.path, args.name, dest, overwrite=args.overwrite)
    in_catalogue = dest.resolve() == _root(args).resolve()
    if in_catalogue:
        usage = f"--dataset {args.name}"
    else:
        usage = f"--dataset {target}  (or --datasets-root {dest} --dataset {args.name})"
    print(f"imported {args.path} as {args.name!r} into {target}\nuse it with {usage}")
    return 0
