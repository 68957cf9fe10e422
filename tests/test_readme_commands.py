"""Every ``mmbench`` command shown in the README and the reproduction guide parses with the real parser."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from mmbench.cli.main import build_parser

DOCUMENTS = ("README.md", "docs/reproducing.md", "docs/lfm2k.md")


def shown_commands(path: Path) -> list[str]:
    """The complete ``mmbench`` command lines of a file's bash blocks (templates with ``...``,
    ``[optional]`` parts or ``a|b`` choices left out), comments removed."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("mmbench ") and not re.search(r"\.\.\.|\[|\||[A-Z]{4,}", part):
                    commands.append(part)
    return commands


@pytest.mark.parametrize("document", DOCUMENTS)
def test_documented_commands_parse(document: str) -> None:
    commands = shown_commands(REPO_ROOT / document)
    assert commands, f"no command found in {document}"
    parser = build_parser()
    for command in commands:
        try:
            parser.parse_args(shlex.split(command)[1:])
        except SystemExit:
            pytest.fail(f"{document}: `{command}` does not parse")
