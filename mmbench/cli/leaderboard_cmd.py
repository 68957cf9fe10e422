"""``mmbench leaderboard``: tables from stored run records (never trains anything)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmbench.atomic import write_text_atomic
from mmbench.cli.common import add_protocol_argument, add_results_argument, parse_name_list
from mmbench.errors import ConfigError
from mmbench.records import RunRecord, load_records
from mmbench.report.leaderboard import DEFAULT_METRICS, FORMATS, render, without_sweeps
from mmbench.report.significance import TESTS
from mmbench.report.tuning_comparison import budgets_of, current_records


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard", help="print the leaderboard of stored runs",
        description="One table per (dataset, protocol): mean ± std over seeds per configuration, the "
        "best value per column marked, and a paired test over test users of the best row (by the "
        "first metric) against each other row. Where a dataset has a `mmbench tune-all` budget, its "
        "tuned rows show only the runs of each study's current best trial, as `mmbench report` does; "
        "the tuned runs left out are counted on stderr.",
    )
    parser.add_argument("--dataset", help="only runs on this dataset name")
    add_protocol_argument(parser, default=None)
    parser.add_argument("--models", help="only these models (comma-separated)")
    parser.add_argument(
        "--metrics", default=",".join(DEFAULT_METRICS),
        help="comma-separated test metrics (name@K); the first ranks the rows and is tested",
    )
    parser.add_argument("--format", choices=FORMATS, default="markdown")
    parser.add_argument(
        "--test", choices=(*TESTS, "none"), default="wilcoxon",
        help="paired test over users, best row vs each other row (default: wilcoxon)",
    )
    parser.add_argument(
        "--reference", metavar="LABEL",
        help="test this row (its label as printed, e.g. mmssl) against each other row instead of the best",
    )
    parser.add_argument(
        "--include-sweeps", action="store_true",
        help="also show runs of `mmbench sweep`, one row per value (label MODEL [PARAM=VALUE])",
    )
    parser.add_argument(
        "--ignore-budget", action="store_true",
        help="list every tuned run as if no dataset had a `tune-all` budget: a MODEL (tuned) row then "
        "joins runs tuned apart (by `mmbench tune` alone, or of an earlier best trial)",
    )
    parser.add_argument("--out", type=Path, help="write the table to this file instead of printing it")
    add_results_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    records = load_records(args.results, args.dataset)
    if args.protocol:
        records = [r for r in records if r.protocol == args.protocol]
    if args.models:
        wanted = set(parse_name_list(args.models))
        records = [r for r in records if r.model in wanted]
    if not args.include_sweeps:
        records = without_sweeps(records)
    if not records:
        raise ConfigError(f"no completed runs under {args.results / 'runs'} match these filters")
    if not args.ignore_budget:
        records = _under_budgets(records, args.results)
    test = None if args.test == "none" else args.test
    text = render(records, parse_name_list(args.metrics), args.format, test, args.reference)
    if args.out:
        write_text_atomic(args.out, text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text.rstrip("\n"))
    return 0


def _under_budgets(records: list[RunRecord], results: Path) -> list[RunRecord]:
    """``records`` less the tuned runs their dataset's ``tune-all`` budget leaves out, counted on
    stderr (:func:`~mmbench.report.tuning_comparison.current_records`)."""
    shown, left_out = current_records(records, budgets_of(results, records))
    if left_out:
        print(
            f"mmbench: note: left out {len(left_out)} tuned run(s) of a configuration other than the "
            "current best trial of a `tune-all` budget (outside it, or an earlier best trial); "
            "`--ignore-budget` lists them",
            file=sys.stderr,
        )
    return shown
