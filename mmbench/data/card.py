"""Dataset cards: the human-readable ``CARD.md`` beside each catalogue dataset.

Every number in a card is counted from the loaded data by the functions here, never typed in, so
that a card cannot drift from its files. Shipped cards add hand-written provenance and citation
text around these tables; imported datasets get a card generated entirely by
:func:`render_import_card`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmbench.data.dataset import SPLITS, Dataset


def split_statistics(dataset: Dataset) -> dict[str, dict[str, float]]:
    """Per split: interactions, users and items with at least one, mean items per such user."""
    result = {}
    for split in SPLITS:
        matrix = dataset.split(split)
        per_user = np.diff(matrix.indptr)
        active_users = int((per_user > 0).sum())
        result[split] = {
            "interactions": int(matrix.nnz),
            "users_with_any": active_users,
            "items_with_any": int(np.unique(matrix.indices).size),
            "mean_items_per_user": float(matrix.nnz / active_users) if active_users else 0.0,
        }
    return result


def statistics_markdown(dataset: Dataset) -> str:
    """The counted statistics as two markdown tables (overall, then per split)."""
    stats = dataset.statistics()
    interactions = stats["interactions"]
    overall = [
        "| statistic | value |",
        "|---|---|",
        f"| users | {stats['users']:,} |",
        f"| items | {stats['items']:,} |",
        "| interactions (train / valid / test) | "
        + " / ".join(f"{interactions[split]:,}" for split in SPLITS)
        + " |",
        f"| interactions in all | {stats['total_interactions']:,} |",
        f"| density | {100 * stats['density']:.3f}% |",
        f"| users without training interactions | {stats['users_without_train']:,} |",
        f"| cold items (never in train) | {stats['cold_items']:,} |",
    ]
    per_split = [
        "| split | interactions | users with >= 1 | items with >= 1 | mean items per such user |",
        "|---|---|---|---|---|",
    ]
    for split, row in split_statistics(dataset).items():
        per_split.append(
            f"| {split} | {row['interactions']:,} | {row['users_with_any']:,} | "
            f"{row['items_with_any']:,} | {row['mean_items_per_user']:.2f} |"
        )
    return "\n".join(overall) + "\n\n" + "\n".join(per_split) + "\n"


def files_markdown(manifest: dict[str, Any]) -> str:
    """The manifest's files with size and SHA-256, as a markdown table."""
    lines = ["| file | bytes | sha256 |", "|---|---|---|"]
    for name, info in sorted(manifest["files"].items()):
        lines.append(f"| `{name}` | {info['bytes']:,} | `{info['sha256']}` |")
    lines.append("")
    lines.append(f"Dataset checksum (SHA-256 over the sorted file name / hash pairs): "
                 f"`{manifest['checksum']}`")
    return "\n".join(lines) + "\n"


def modalities_markdown(manifest: dict[str, Any]) -> str:
    """The feature modalities with their dimension and stored dtype, or a note that there are none."""
    modalities = manifest.get("modalities", {})
    if not modalities:
        return "No feature files: interactions only (ID-based models only).\n"
    lines = ["| modality | file | dimension | stored as | loaded as |", "|---|---|---|---|---|"]
    for modality, info in sorted(modalities.items()):
        lines.append(
            f"| {modality} | `{info['file']}` | {info['dim']} | {info['stored_dtype']} | float32 |"
        )
    return "\n".join(lines) + "\n"


def render_import_card(dataset: Dataset, manifest: dict[str, Any]) -> str:
    """A complete card for an imported dataset: source, statistics, modalities, files."""
    source = manifest.get("source", {})
    sections = [
        f"# {dataset.name}\n",
        "Imported with `mmbench datasets import`. Everything below was counted from the files by "
        "the loader. Add the data's origin, licence and the citation its publishers ask for.\n",
        "## Source\n",
        f"- folder: `{source.get('path', 'unknown')}`\n"
        f"- layout read: {source.get('layout', 'unknown')}\n"
        f"- source checksum: `{source.get('checksum', 'unknown')}`\n",
        "## Statistics\n",
        statistics_markdown(dataset),
        "## Modalities\n",
        modalities_markdown(manifest),
        "## Files\n",
        files_markdown(manifest),
    ]
    return "\n".join(sections)
