"""Read a table of item texts and line it up with a dataset's item ids 0..n_items-1.

The table is tab-separated (no quoting, as mmbench's ``.inter`` files and the shipped
``item_text.tsv``), or comma-separated with CSV quoting when its name ends in ``.csv``. Every row
must name an item of the dataset, once: an id outside the dataset's range or a repeated id is an
error pointing at its line, since either means the table and the dataset disagree on what an id
is, and features made from it would describe the wrong items. Items without a row, or with a
blank text, are reported here and handled by a policy (:mod:`mmbench.features.missing`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmbench.data.checksums import sha256_file
from mmbench.errors import DataError

_ID_PATTERN = re.compile(r"\d{1,18}")
_SHOWN = 5


@dataclass(frozen=True)
class ItemTexts:
    """Each item's text, indexed by item id (None where the table has no row for the item)."""

    texts: tuple[str | None, ...]
    path: Path
    sha256: str
    id_column: str
    text_column: str

    @property
    def missing(self) -> np.ndarray:
        """Ids of the items the table has no row for."""
        return np.array([item for item, text in enumerate(self.texts) if text is None], dtype=np.int64)

    @property
    def empty(self) -> np.ndarray:
        """Ids of the items whose text is empty or only white space."""
        return np.array(
            [item for item, text in enumerate(self.texts) if text is not None and not text.strip()],
            dtype=np.int64,
        )


def shown_ids(ids: np.ndarray) -> str:
    """The first few ids of a list, for a message."""
    head = ", ".join(str(int(item)) for item in ids[:_SHOWN])
    return head + (f", ... ({ids.size} in all)" if ids.size > _SHOWN else "")


def read_item_texts(path: Path, id_column: str, text_column: str, n_items: int) -> ItemTexts:
    """Read ``path`` and return the text of each of the dataset's ``n_items`` items.

    Raises :class:`DataError` for an unreadable table, a missing column, an id that is not a
    non-negative integer, an id outside ``0..n_items-1`` and an id given twice.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"items file {path} does not exist")
    frame = _read_table(path)
    for column in (id_column, text_column):
        if column not in frame.columns:
            found = ", ".join(repr(str(name)) for name in frame.columns)
            raise DataError(
                f"{path}: no column {column!r} in the header; found {found}; name the columns with "
                "--id-column and --text-column"
            )
    blank = (frame == "").all(axis=1)
    frame = frame[~blank]
    ids = _item_ids(frame[id_column], path, id_column)
    _check_range(ids, frame.index.to_numpy(), path, id_column, n_items)
    _check_unique(ids, frame.index.to_numpy(), path, id_column)
    texts: list[str | None] = [None] * n_items
    for item, text in zip(ids.tolist(), frame[text_column].tolist()):
        texts[item] = text
    return ItemTexts(tuple(texts), path, sha256_file(path), id_column, text_column)


def _read_table(path: Path) -> pd.DataFrame:
    """All columns as strings, index = data row (0 = the line after the header), nothing parsed."""
    options = (
        dict(sep=",")
        if path.suffix.lower() == ".csv"
        else dict(sep="\t", quoting=csv.QUOTE_NONE)
    )
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False,
            encoding="utf-8-sig", **options,
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; the first line must name the columns") from None
    except pd.errors.ParserError as error:
        raise DataError(f"{path}: cannot be parsed as a {_kind(path)} table ({error})") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error})") from None
    return frame.fillna("")


def _kind(path: Path) -> str:
    return "comma-separated" if path.suffix.lower() == ".csv" else "tab-separated"


def _position(path: Path, row: int) -> str:
    """Where data row ``row`` is: its line in a tab-separated file, its record in a CSV file
    (where a quoted text may span lines)."""
    if path.suffix.lower() == ".csv":
        return f"record {row + 1} after the header"
    return f"line {row + 2}"


def _where(path: Path, row: int) -> str:
    return f"{path} {_position(path, row)}"


def _item_ids(column: pd.Series, path: Path, name: str) -> np.ndarray:
    text = column.astype(str).str.strip()
    bad = np.flatnonzero(~text.str.fullmatch(_ID_PATTERN.pattern).to_numpy(dtype=bool))
    if bad.size:
        others = f" ({bad.size - 1} more like it)" if bad.size > 1 else ""
        raise DataError(
            f"{_where(path, int(column.index[bad[0]]))}: {name} is {text.iloc[bad[0]]!r}, not a "
            f"non-negative integer item id{others}"
        )
    return text.to_numpy().astype(np.int64)


def _check_range(ids: np.ndarray, rows: np.ndarray, path: Path, name: str, n_items: int) -> None:
    outside = np.flatnonzero(ids >= n_items)
    if outside.size:
        others = f" ({outside.size - 1} more outside)" if outside.size > 1 else ""
        raise DataError(
            f"{_where(path, int(rows[outside[0]]))}: {name} {ids[outside[0]]} is outside the dataset's "
            f"items 0..{n_items - 1}{others}; the table must use the dataset's item ids"
        )


def _check_unique(ids: np.ndarray, rows: np.ndarray, path: Path, name: str) -> None:
    order = np.argsort(ids, kind="stable")
    repeated = np.flatnonzero(ids[order][1:] == ids[order][:-1])
    if repeated.size:
        first, second = rows[order[repeated[0]]], rows[order[repeated[0] + 1]]
        ids_repeated = np.unique(ids[order][repeated + 1]).size
        raise DataError(
            f"{_where(path, int(second))}: {name} {ids[order][repeated[0]]} was given before, at "
            f"{_position(path, int(first))} ({ids_repeated} id(s) given more than once); keep one "
            "text per item"
        )
