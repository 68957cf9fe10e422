"""Read the MMSSL/LATTICE layout: ``train.json``, ``val.json``, ``test.json`` plus feature files.

Each JSON file is an object mapping a user id (a string such as ``"12"``) to a list of integer item
ids; a user may map to an empty list. As in the MMSSL code, the users are those of ``train.json``:
a user id in ``val.json`` or ``test.json`` beyond them is an error. A bad value is reported by file,
user key and position in that user's list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmbench.data.readers import RawData, RawInteractions, read_features
from mmbench.errors import DataError

SPLIT_FILES = {"train": "train.json", "valid": "val.json", "test": "test.json"}
_MAX_ID = 10**18


class _DuplicateKey(Exception):
    """A JSON object repeats a key (the standard parser would silently keep the last one)."""


@dataclass(frozen=True)
class _SplitFile:
    """One parsed split file: user keys in file order and each user's item ids, flattened."""

    path: Path
    keys: list[str]
    users: np.ndarray
    lengths: np.ndarray
    items: np.ndarray


def read_json_layout(folder: Path) -> RawData:
    """Read an MMSSL/LATTICE folder into :class:`RawData`; raise :class:`DataError` if malformed."""
    missing = [name for name in SPLIT_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise DataError(
            f"{folder}: the MMSSL/LATTICE layout needs train.json, val.json and test.json; "
            f"missing {', '.join(missing)}"
        )
    parsed = [_read_split(folder / name) for name in SPLIT_FILES.values()]
    _check_users_within_train(parsed)

    lengths = [split.lengths for split in parsed]
    users = np.concatenate([np.repeat(split.users, split.lengths) for split in parsed])
    items = np.concatenate([split.items for split in parsed])
    splits = np.concatenate(
        [np.full(int(length.sum()), code, dtype=np.int8) for code, length in enumerate(lengths)]
    )
    file_starts = np.cumsum([0] + [int(length.sum()) for length in lengths])
    user_starts = [np.concatenate(([0], np.cumsum(length))) for length in lengths]

    def locate(row: int) -> str:
        index = int(np.searchsorted(file_starts, row, side="right") - 1)
        offset = row - int(file_starts[index])
        split = parsed[index]
        user_index = int(np.searchsorted(user_starts[index], offset, side="right") - 1)
        position = offset - int(user_starts[index][user_index])
        return f'{split.path}, user "{split.keys[user_index]}", position {position}'

    source = ", ".join(str(split.path) for split in parsed)
    features = read_features(folder)
    return RawData(
        interactions=RawInteractions(
            users, items, splits, locate, source, tuple(str(split.path) for split in parsed)
        ),
        features=features,
        user_ids=np.unique(np.concatenate([split.users for split in parsed])),
    )


def _read_split(path: Path) -> _SplitFile:
    """Parse one split file and check its keys and values."""
    document = _load_json(path)
    if not isinstance(document, dict):
        raise DataError(
            f"{path}: expected a JSON object mapping user ids to lists of item ids, "
            f"got a JSON {type(document).__name__}"
        )
    keys = list(document)
    users = np.array([_user_id(key, path) for key in keys], dtype=np.int64)
    values = list(document.values())
    for key, value in zip(keys, values):
        if not isinstance(value, list):
            raise DataError(
                f'{path}, user "{key}": expected a list of item ids, got {json.dumps(value)[:60]}'
            )
    lengths = np.array([len(value) for value in values], dtype=np.int64)
    flat = [item for value in values for item in value]
    return _SplitFile(path, keys, users, lengths, _item_ids(flat, keys, lengths, path))


def _load_json(path: Path) -> object:
    try:
        with open(path, encoding="utf-8-sig") as stream:
            return json.load(stream, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as error:
        raise DataError(
            f"{path} line {error.lineno} column {error.colno}: not valid JSON ({error.msg})"
        ) from None
    except _DuplicateKey as error:
        raise DataError(
            f'{path}: user "{error.args[0]}" appears twice as a key; merge its item lists'
        ) from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text ({error})") from None


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _user_id(key: str, path: Path) -> int:
    if not (key.isascii() and key.isdigit() and len(key) <= 18):
        raise DataError(
            f'{path}: key "{key}" is not a user id; keys must be non-negative integers '
            'written as strings, such as "0"'
        )
    return int(key)


def _item_ids(flat: list[object], keys: list[str], lengths: np.ndarray, path: Path) -> np.ndarray:
    """The flattened item lists as int64; the first non-integer or negative item is an error."""
    if not flat:
        return np.zeros(0, dtype=np.int64)
    if set(map(type, flat)) <= {int}:
        values = np.array(flat, dtype=object)
        bad_mask = (values < 0) | (values >= _MAX_ID)
        if not bad_mask.any():
            return values.astype(np.int64)
        bad = int(np.flatnonzero(bad_mask)[0])
    else:
        bad = next(i for i, item in enumerate(flat) if type(item) is not int)
    user_starts = np.concatenate(([0], np.cumsum(lengths)))
    user_index = int(np.searchsorted(user_starts, bad, side="right") - 1)
    position = bad - int(user_starts[user_index])
    raise DataError(
        f'{path}, user "{keys[user_index]}", position {position}: item {json.dumps(flat[bad])} '
        "is not a non-negative integer id"
    )


def _check_users_within_train(parsed: list[_SplitFile]) -> None:
    """Users are those of train.json (as in MMSSL); val/test may not name a user beyond them."""
    train = parsed[0]
    n_train_users = int(train.users.max()) + 1 if train.users.size else 0
    for split in parsed[1:]:
        beyond = np.flatnonzero(split.users >= n_train_users)
        if beyond.size:
            key = split.keys[int(beyond[0])]
            known = f"0..{n_train_users - 1}" if n_train_users else "it lists none"
            raise DataError(
                f'{split.path}: user "{key}" is beyond the users of {train.path.name} '
                f"({known}; {beyond.size} such user(s)); every user needs a key "
                f"in {train.path.name}, with an empty list if it has no training items"
            )
