"""The record of how a feature file was made: everything needed to make the same file again.

It names the encoder and the SHA-256 of the files it was loaded from, the item table (and its
SHA-256) and columns, the text template, the maximum length and how many texts it cut, the
pooling and normalisation, and how many items had no text and what they got instead. The same
record is stored as JSON (in ``dataset.json`` or beside the feature file) and shown as a table in
the dataset's card.
"""

from __future__ import annotations

import datetime
import importlib.metadata
from typing import TYPE_CHECKING, Any

import torch

import mmbench
from mmbench.features.encoders import package_version
from mmbench.features.missing import MISSING_POLICIES

if TYPE_CHECKING:
    from mmbench.features.item_texts import ItemTexts
    from mmbench.features.text_encoder import TextEncoder

POOLING_TEXT = {"mean": "mean of the last layer's token vectors over the real (non-padding) tokens"}
NORMALISATION_TEXT = {"l2": "L2: every row scaled to norm 1"}


def text_feature_record(
    encoder: TextEncoder,
    item_texts: ItemTexts,
    template: str,
    truncated: int,
    policy: str,
    filled: int,
) -> dict[str, Any]:
    """The JSON record of one ``mmbench features text`` output."""
    spec = encoder.spec
    return {
        "made_by": f"mmbench {mmbench.__version__} features text",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "encoder": {
            "name": spec.name,
            "published_as": spec.published_as,
            "licence": spec.licence,
            "package": f"{spec.distribution} {package_version(spec)}",
            "files_sha256": dict(encoder.files_sha256),
        },
        "weights_sha256": encoder.files_sha256[spec.weights_file],
        "items": {
            "file": str(item_texts.path),
            "sha256": item_texts.sha256,
            "id_column": item_texts.id_column,
            "text_column": item_texts.text_column,
        },
        "text_template": template,
        "max_length": encoder.max_length,
        "texts_cut_to_max_length": truncated,
        "pooling": POOLING_TEXT[spec.pooling],
        "normalisation": NORMALISATION_TEXT[spec.normalisation],
        "missing_text": {
            "policy": policy,
            "meaning": MISSING_POLICIES[policy],
            "items_without_row": int(item_texts.missing.size),
            "items_with_empty_text": int(item_texts.empty.size),
            "rows_filled": filled,
        },
        "dtype": "float32",
        "device": str(encoder.device),
        "libraries": {
            "transformers": importlib.metadata.version("transformers"),
            "torch": torch.__version__,
        },
    }


def record_markdown(file_name: str, record: dict[str, Any]) -> str:
    """The record as a card section: a heading and a two-column table."""
    encoder, items, missing = record["encoder"], record["items"], record["missing_text"]
    rows = [
        ("made by", f"`{record['made_by']}`, {record['created']}"),
        ("encoder", f"{encoder['name']}: {encoder['published_as']}; {encoder['licence']}"),
        ("weights", f"package {encoder['package']}; "
         + "; ".join(f"`{name}` sha256 `{sha}`" for name, sha in encoder["files_sha256"].items())),
        ("item texts", f"column `{items['text_column']}` of `{items['file']}` (sha256 `{items['sha256']}`), "
         f"item ids in column `{items['id_column']}`"),
        ("text template", f"`{record['text_template']}`"),
        ("max length", f"{record['max_length']} word pieces, special tokens included; "
         f"{record['texts_cut_to_max_length']} text(s) cut to their first ones"),
        ("pooling", record["pooling"]),
        ("normalisation", record["normalisation"]),
        ("items without text", f"{missing['items_without_row']} without a row, {missing['items_with_empty_text']} "
         f"with an empty text; policy `{missing['policy']}` ({missing['meaning']}), "
         f"{missing['rows_filled']} row(s) filled"),
        ("computed on", f"{record['device']}, {record['dtype']}, "
         + ", ".join(f"{name} {version}" for name, version in record["libraries"].items())),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"## How `{file_name}` was made\n\n| | |\n|---|---|\n{table}\n"
