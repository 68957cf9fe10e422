"""The ``mmbench`` command: one sub-command module per verb, one error path for all of them."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from mmbench import __version__
from mmbench.errors import MMBenchError


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser; each sub-command module adds its own verb."""
    from mmbench.cli import (
        ablate_cmd,
        datasets_cmd,
        evaluate_cmd,
        features_cmd,
        leaderboard_cmd,
        models_cmd,
        plot_cmd,
        report_cmd,
        run_cmd,
        sweep_cmd,
        tune_all_cmd,
        tune_cmd,
    )

    parser = argparse.ArgumentParser(
        prog="mmbench",
        description="Benchmark multimodal recommenders on real data under one evaluation protocol.",
    )
    parser.add_argument("--version", action="version", version=f"mmbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (
        run_cmd, ablate_cmd, sweep_cmd, tune_cmd, tune_all_cmd, evaluate_cmd, leaderboard_cmd, report_cmd,
        plot_cmd, models_cmd, datasets_cmd, features_cmd,
    ):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="mmbench: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args) or 0)
    except MMBenchError as error:
        print(f"mmbench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mmbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of our output went away (``mmbench ... | head``): not an error of ours
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
