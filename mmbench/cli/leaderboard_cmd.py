"""``mmbench leaderboard``: tables from stored run records (never trains anything)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmbench.atomic import write_text_atomic
from mmbench.cli.common import add_protocol_argument, add_results_argument, parse_name_list
from mmbench.records import load_records
from mmbench.report.leaderboard import DEFAULT_METRICS, FORMATS, render


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("leaderboard", help="print the leaderboard of stored runs")
    parser.add_argument("--dataset", help="only runs on this dataset name")
    add_protocol_argument(parser, default=None)
    parser.add_argument("--models", help="only these models (comma-separated)")
    parser.add_argument(
        "--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated test metrics (name@K)"
    )
    parser.add_argument("--format", choices=FORMATS, default="markdown")
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
    text = render(records, parse_name_list(args.metrics), args.format)
    if args.out:
        write_text_atomic(args.out, text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text.rstrip("\n"))
    return 0
