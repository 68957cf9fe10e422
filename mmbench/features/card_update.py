"""Bring a dataset card up to date after a feature file was written into its folder.

The card's counted tables (``## Modalities`` and ``## Files``, as :mod:`mmbench.data.card`
generates them) are regenerated from the new manifest, so that the card never lists a hash the
folder no longer has; the rest of the card, hand-written text included, is kept. How the feature
file was made goes into a block of its own, marked with HTML comments so that making the same
modality again replaces the block instead of adding a second one.
"""

from __future__ import annotations

import re
from typing import Any

from mmbench.data.card import files_markdown, modalities_markdown

_GENERATED_SECTIONS = (("## Modalities", modalities_markdown), ("## Files", files_markdown))


def block_markers(modality: str) -> tuple[str, str]:
    """The comment lines that open and close the block about ``modality``'s features."""
    return f"<!-- mmbench-features: {modality} -->", f"<!-- /mmbench-features: {modality} -->"


def updated_card(card: str, manifest: dict[str, Any], modality: str, block: str) -> str:
    """``card`` with its generated tables redone from ``manifest`` and ``block`` (markdown about how
    ``modality``'s features were made) put in place of the earlier block, or appended."""
    for heading, render in _GENERATED_SECTIONS:
        card = _replace_section(card, heading, render(manifest))
    opening, closing = block_markers(modality)
    marked = f"{opening}\n{block.rstrip()}\n{closing}\n"
    pattern = re.compile(re.escape(opening) + r".*?" + re.escape(closing) + r"\n?", flags=re.S)
    if pattern.search(card):
        return pattern.sub(lambda _: marked, card, count=1)
    return card.rstrip("\n") + "\n\n" + marked


def _replace_section(card: str, heading: str, body: str) -> str:
    """Replace what follows the line ``heading`` up to the next ``## `` heading or marked block."""
    lines = card.splitlines(keepends=True)
    try:
        start = next(index for index, line in enumerate(lines) if line.rstrip("\n") == heading)
    except StopIteration:
        return card
    end = start + 1
    while end < len(lines) and not lines[end].startswith(("## ", "<!-- mmbench-features: ")):
        end += 1
    tail = "\n" if end < len(lines) else ""
    return "".join(lines[: start + 1]) + "\n" + body.rstrip("\n") + "\n" + tail + "".join(lines[end:])
