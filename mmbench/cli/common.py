"""Arguments and parsing shared by several sub-commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from mmbench.errors import ConfigError
from mmbench.evaluation.protocols import PROTOCOLS


def add_results_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results", type=Path, default=Path("results"),
        help="results root; run records go to RESULTS/runs/<dataset>/<model>/<run id> (default: ./results)",
    )


def add_protocol_argument(parser: argparse.ArgumentParser, default: str | None = "standard") -> None:
    parser.add_argument(
        "--protocol", choices=sorted(PROTOCOLS), default=default,
        help="evaluation protocol: standard (masks train+valid at test, standard NDCG) or lattice "
        "(the LATTICE/MMSSL code lineage)" + (f" (default: {default})" if default else ""),
    )


def parse_int_list(text: str, flag: str) -> list[int]:
    """``"1,2,3"`` -> ``[1, 2, 3]``; anything else is a :class:`ConfigError` naming the flag."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{flag} expects comma-separated integers such as 1,2,3, got {text!r}") from None
    if not values:
        raise ConfigError(f"{flag} expects at least one integer, got {text!r}")
    return values


def parse_name_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
