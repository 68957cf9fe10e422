"""What an item without text gets: an error (the default) or a named fill, recorded with the file.

A feature file must have a row for every item, and a row made up for an item without text is
a modelling choice that changes results (a zero row has no cosine neighbours; a mean row makes
the item look like the average item). So nothing is filled unless the command names how, and the
record says how many rows were filled and by which policy. An item counts as without text when
the table has no row for it, or its text is empty or only white space.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from mmbench.errors import ConfigError, DataError
from mmbench.features.item_texts import ItemTexts, shown_ids

MISSING_POLICIES: Mapping[str, str] = {
    "refuse": "stop with an error naming the items",
    "zeros": "a row of zeros",
    "mean": "the mean of the vectors of the items with text, scaled to unit L2 norm",
}


def check_policy(policy: str) -> str:
    """``policy`` if it is a known policy name, else :class:`ConfigError` listing them."""
    if policy not in MISSING_POLICIES:
        raise ConfigError(f"unknown --missing policy {policy!r}; choose one of {', '.join(MISSING_POLICIES)}")
    return policy


def rows_without_text(item_texts: ItemTexts, policy: str) -> np.ndarray:
    """The sorted ids of the items that the policy must fill.

    Raises :class:`DataError` under ``refuse`` when there are any (one line: how many, which,
    how to fix), and under every policy when no item has text at all.
    """
    check_policy(policy)
    missing, empty = item_texts.missing, item_texts.empty
    n_items = len(item_texts.texts)
    others = "; give them a text, or fill them with --missing " + " or --missing ".join(
        name for name in MISSING_POLICIES if name != "refuse"
    )
    if missing.size + empty.size == n_items:
        raise DataError(
            f"{item_texts.path}: none of the dataset's {n_items} items has a text in column "
            f"{item_texts.text_column!r}; check --id-column, --text-column and the --out dataset"
        )
    if policy == "refuse" and empty.size:
        raise DataError(
            f"{item_texts.path}: {empty.size} item(s) have an empty text in column "
            f"{item_texts.text_column!r} (item ids {shown_ids(empty)}){others}"
        )
    if policy == "refuse" and missing.size:
        raise DataError(
            f"{item_texts.path}: {missing.size} of the dataset's {n_items} items have no row "
            f"(item ids {shown_ids(missing)}){others}"
        )
    return np.union1d(missing, empty)


def fill(values: np.ndarray, rows: np.ndarray, policy: str) -> np.ndarray:
    """``values`` with ``rows`` filled by ``policy``; the other rows are left as they are."""
    if rows.size == 0:
        return values
    filled = values.copy()
    if policy == "zeros":
        filled[rows] = 0.0
    elif policy == "mean":
        keep = np.ones(values.shape[0], dtype=bool)
        keep[rows] = False
        mean = values[keep].astype(np.float64).mean(axis=0)
        filled[rows] = (mean / max(np.linalg.norm(mean), 1e-12)).astype(values.dtype)
    else:
        raise ValueError(f"policy {policy!r} fills no rows")
    return filled
