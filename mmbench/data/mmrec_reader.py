"""Read the MMRec layout: one tab-separated ``<name>.inter`` plus ``<modality>_feat.npy`` files.

The ``.inter`` file has a header; the columns ``userID``, ``itemID`` and ``x_label`` are required
(``x_label`` 0/1/2 = train/valid/test) and any other column is ignored. Parsing is vectorised with
pandas; a bad value is reported with its 1-based line number (the header is line 1).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mmbench.data.readers import RawData, RawInteractions, read_features
from mmbench.data.validation import problems_error
from mmbench.errors import DataError

INTER_SUFFIX = ".inter"
REQUIRED_COLUMNS = ("userID", "itemID", "x_label")
_FIRST_DATA_LINE = 2
_ID_PATTERN = r"\d{1,18}"
_PANDAS_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def inter_files(folder: Path) -> list[Path]:
    """The ``*.inter`` files of a folder, sorted by name."""
    return sorted(path for path in folder.glob(f"*{INTER_SUFFIX}") if path.is_file())


def read_mmrec(folder: Path) -> RawData:
    """Read an MMRec folder into :class:`RawData`; raise :class:`DataError` on malformed files."""
    candidates = inter_files(folder)
    if len(candidates) != 1:
        found = ", ".join(path.name for path in candidates) or "none"
        raise DataError(
            f"{folder}: an MMRec dataset folder needs exactly one <name>.inter file, found {found}"
        )
    inter_path = candidates[0]
    frame = _read_table(inter_path)
    columns, problems = {}, []
    for column in REQUIRED_COLUMNS:
        try:
            columns[column] = _id_column(frame, column, inter_path)
        except DataError as problem:
            problems.append(str(problem))
    if "x_label" in columns:
        try:
            _check_labels(columns["x_label"], inter_path)
        except DataError as problem:
            problems.append(str(problem))
    if problems:
        raise problems_error(problems)
    users, items, labels = (columns[column] for column in REQUIRED_COLUMNS)

    def locate(row: int) -> str:
        return f"{inter_path} line {row + _FIRST_DATA_LINE}"

    split_sources = tuple(f"{inter_path} (x_label {code})" for code in range(3))
    interactions = RawInteractions(
        users, items, labels.astype(np.int8), locate, str(inter_path), split_sources
    )
    features = read_features(folder)
    return RawData(
        interactions=interactions,
        features=features,
        user_ids=np.unique(users),
    )


def _read_table(path: Path) -> pd.DataFrame:
    """Parse the tab-separated file, keeping blank lines so that row i is line i + 2."""
    header = _header(path)
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        hint = " (the file must be tab-separated)" if len(header) == 1 else ""
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} in the header line; found columns "
            f"{', '.join(repr(name) for name in header)}{hint}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}"
        )
    try:
        return pd.read_csv(
            path,
            sep="\t",
            quoting=csv.QUOTE_NONE,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
        )
    except pd.errors.ParserError as error:
        match = _PANDAS_FIELD_COUNT.search(str(error))
        if match:
            expected, line, seen = match.groups()
            raise DataError(
                f"{path} line {line}: {seen} tab-separated fields, but the header has {expected}; "
                "every line needs one value per header column"
            ) from None
        raise DataError(f"{path}: cannot be parsed as tab-separated values ({error})") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error})") from None


def _header(path: Path) -> list[str]:
    """The column names of the first line; an empty file is an error."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            first_line = stream.readline()
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error})") from None
    if not first_line.strip():
        raise DataError(
            f"{path}: the file is empty or its first line is blank; the first line must be the "
            f"header {chr(9).join(REQUIRED_COLUMNS)!r} (tab-separated)"
        )
    return first_line.rstrip("\r\n").split("\t")


def _id_column(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """One required column as int64; the first non-integer or negative value is an error."""
    series = frame[column]
    if series.dtype.kind in "iu":
        values = series.to_numpy(dtype=np.int64)
        negative = np.flatnonzero(values < 0)
        if negative.size:
            raise _bad_value(path, column, negative[0], str(values[negative[0]]), negative.size)
        return values
    text = series.astype(str).str.strip()
    bad = np.flatnonzero(~text.str.fullmatch(_ID_PATTERN).to_numpy(dtype=bool))
    if bad.size:
        raise _bad_value(path, column, bad[0], text.iloc[bad[0]], bad.size)
    return text.to_numpy().astype(np.int64)


def _bad_value(path: Path, column: str, row: int, value: str, count: int) -> DataError:
    others = f" ({count - 1} more line(s) like it)" if count > 1 else ""
    where = f"{path} line {row + _FIRST_DATA_LINE}"
    if not value:
        return DataError(
            f"{where}: {column} is empty or missing{others}; every line needs one tab-separated value "
            f"per header column ({', '.join(REQUIRED_COLUMNS)}), ids and x_label 0-based integers"
        )
    return DataError(
        f"{where}: {column} is {value!r}, not a non-negative integer{others}; ids and x_label must "
        "be 0-based integers"
    )


def _check_labels(labels: np.ndarray, path: Path) -> None:
    bad = np.flatnonzero((labels < 0) | (labels > 2))
    if bad.size:
        others = f" ({bad.size - 1} more line(s) like it)" if bad.size > 1 else ""
        raise DataError(
            f"{path} line {bad[0] + _FIRST_DATA_LINE}: x_label is {labels[bad[0]]}, expected 0 "
            f"(train), 1 (valid) or 2 (test){others}"
        )
