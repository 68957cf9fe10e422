"""``mmbench evaluate``: score matrices of external models under mmbench's protocol."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from mmbench.cli.common import add_ks_argument, add_protocol_argument, ks_from_args
from mmbench.cli.datasets_cmd import add_dataset_arguments, dataset_from_args
from mmbench.errors import DataError

if TYPE_CHECKING:
    import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="evaluate an external model's score matrix",
        description="Evaluate a float score matrix of shape (n_users, n_items), saved with numpy.save, "
        "under the same protocol as mmbench's own runs.",
    )
    parser.add_argument("--scores", type=Path, required=True, help="a .npy file of shape (n_users, n_items)")
    add_dataset_arguments(parser)
    parser.add_argument("--split", choices=("test", "valid"), default="test")
    add_protocol_argument(parser)
    add_ks_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object of metric -> value")
    parser.set_defaults(handler=handle)


def load_scores(path: Path) -> np.ndarray:
    """The score matrix, memory-mapped; a missing or unreadable file is a :class:`DataError`."""
    import numpy as np

    if not path.is_file():
        raise DataError(f"{path}: no such file; pass --scores a .npy file saved with numpy.save")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as error:
        raise DataError(f"{path}: not a readable .npy array ({error}); save it with numpy.save") from None


def handle(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from mmbench.evaluation.evaluator import evaluate_score_matrix

    ks = ks_from_args(args)
    scores = load_scores(args.scores)
    dataset = dataset_from_args(args)
    result = evaluate_score_matrix(scores, dataset, args.split, args.protocol, ks)
    if args.json:
        print(json.dumps(result.metrics, sort_keys=True))
        return 0
    print(f"{dataset.name}, split {args.split}, protocol {args.protocol}, {len(result.users)} users")
    print(tabulate(sorted(result.metrics.items()), headers=["metric", "value"], floatfmt=".4f"))
    return 0
