"""Generated blocks inside a hand-written file such as the README.

A block is opened by ``<!-- mmbench-report: leaderboard dataset=D protocol=P metrics=M1,M2 -->`` and
closed by ``<!-- /mmbench-report -->``; ``mmbench report`` replaces what lies between with the
leaderboard of the stored runs, so that numbers quoted in prose files come from the same command
as the files under results/ and cannot go stale unnoticed.
"""

from __future__ import annotations

import re
from typing import Sequence

from mmbench.errors import ConfigError
from mmbench.records import RunRecord
from mmbench.report.leaderboard import render

BLOCK = re.compile(
    r"(?P<open><!-- mmbench-report: (?P<kind>\w+)(?P<args>[^>]*?) -->\n)(?P<body>.*?)(?P<close><!-- /mmbench-report -->)",
    re.DOTALL,
)


def _arguments(text: str, source: str) -> dict[str, str]:
    """``key=value`` pairs of a block's opening comment."""
    arguments = {}
    for part in text.split():
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise ConfigError(f"{source}: report block argument {part!r} is not key=value")
        arguments[key] = value
    return arguments


def _leaderboard(records: Sequence[RunRecord], arguments: dict[str, str], source: str) -> str:
    missing = {"dataset", "protocol", "metrics"} - set(arguments)
    if missing:
        raise ConfigError(f"{source}: leaderboard block lacks {', '.join(sorted(missing))}")
    chosen = [r for r in records if r.dataset == arguments["dataset"] and r.protocol == arguments["protocol"]]
    if not chosen:
        return f"No completed {arguments['dataset']} runs under protocol `{arguments['protocol']}`.\n"
    return render(chosen, arguments["metrics"].split(",")) + "\n"


def fill_blocks(text: str, records: Sequence[RunRecord], source: str) -> str:
    """``text`` with every report block's body regenerated from ``records``."""

    def replace(match: re.Match[str]) -> str:
        if match["kind"] != "leaderboard":
            raise ConfigError(f"{source}: unknown report block kind {match['kind']!r}; valid kinds: leaderboard")
        body = _leaderboard(records, _arguments(match["args"], source), source)
        return match["open"] + body + match["close"]

    return BLOCK.sub(replace, text)
