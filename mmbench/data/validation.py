"""Consistency checks on freshly read data, and the warnings a valid dataset may still deserve.

Every check is vectorised (numpy over whole id arrays), so validating the shipped datasets takes
milliseconds. A failed check raises one :class:`DataError` whose message names the file, the
line / JSON key / feature row, and what to do about it. Conditions that are legitimate in
published splits (users without training items, items never trained on) are not errors:
:func:`dataset_warnings` describes them so that the loader can log them with counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from mmbench.data.dataset import SPLITS, Dataset
from mmbench.data.readers import RawData, RawFeature, RawInteractions
from mmbench.config import DEFAULT_KS
from mmbench.errors import DataError

_EXAMPLES = 5


@dataclass(frozen=True)
class Shape:
    """The user and item counts that a valid :class:`RawData` defines."""

    n_users: int
    n_items: int


MAX_PROBLEMS = 20


def validate(raw: RawData) -> Shape:
    """Check ``raw`` for consistency and return its user and item counts.

    Users are 0..max user id; items are one per feature row when there are feature files, else
    0..max item id. Raises one :class:`DataError` that lists every problem found (up to
    :data:`MAX_PROBLEMS`), each naming the file and line to fix; the item checks are skipped where
    the item count itself is in doubt (feature files of different lengths, ids beyond them).
    """
    problems: list[str] = []

    def check(step: Callable[[], None]) -> bool:
        try:
            step()
        except DataError as problem:
            problems.append(str(problem))
            return False
        return True

    interactions = raw.interactions
    rows_agree = check(lambda: _check_feature_rows_agree(raw.features))
    check(lambda: _check_nonempty_splits(interactions))
    n_users = int(raw.user_ids.max()) + 1
    check(lambda: _check_contiguous("user", raw.user_ids, n_users, interactions.source, ""))
    n_items = 0
    if rows_agree:
        try:
            n_items = _item_count(interactions, raw.features)
        except DataError as problem:
            problems.append(str(problem))
    if n_items:
        feature_hint = " (and keep the feature rows in item-id order)" if raw.features else ""
        check(lambda: _check_contiguous("item", interactions.items, n_items, interactions.source, feature_hint))
        pair_keys = interactions.users * np.int64(n_items) + interactions.items
        check(lambda: _check_duplicates_within_splits(interactions, pair_keys))
        check(lambda: _check_pairs_in_one_split(interactions, pair_keys))
    for feature in raw.features:
        check(lambda feature=feature: _check_finite(feature))
    if problems:
        raise problems_error(problems)
    return Shape(n_users, n_items)


def problems_error(problems: list[str]) -> DataError:
    """One :class:`DataError` for one problem or several (one indented line each, at most
    :data:`MAX_PROBLEMS`)."""
    if len(problems) == 1:
        return DataError(problems[0])
    shown = problems[:MAX_PROBLEMS]
    more = f" (the first {MAX_PROBLEMS} shown)" if len(problems) > MAX_PROBLEMS else ""
    return DataError(f"{len(problems)} problems{more}:\n" + "\n".join(f"  - {text}" for text in shown))


def dataset_warnings(dataset: Dataset) -> list[str]:
    """Legitimate but noteworthy conditions of a valid dataset, one message each, with counts."""
    messages = []
    train_per_user = np.diff(dataset.train.indptr)
    without_train = np.flatnonzero(train_per_user == 0)
    if without_train.size:
        messages.append(
            f"{dataset.name}: {without_train.size} of {dataset.n_users} users have no training "
            f"interaction (e.g. users {_examples(without_train)}); they are still evaluated"
        )
    train_per_item = np.bincount(dataset.train.indices, minlength=dataset.n_items)
    cold = np.flatnonzero(train_per_item == 0)
    if cold.size:
        reach = "only their features describe them" if dataset.features else "no model learns them"
        messages.append(
            f"{dataset.name}: {cold.size} of {dataset.n_items} items never appear in train "
            f"(cold items, e.g. items {_examples(cold)}); {reach}"
        )
    if dataset.n_items < max(DEFAULT_KS):
        fitting = [k for k in DEFAULT_KS if k <= dataset.n_items] or [dataset.n_items]
        selection = "" if 20 in fitting else f" --set metric=recall@{fitting[-1]}"
        messages.append(
            f"{dataset.name}: {dataset.n_items} items, fewer than the largest default cut-off "
            f"K={max(DEFAULT_KS)}; run and evaluate with smaller cut-offs, for example "
            f"--ks {','.join(map(str, fitting))}{selection}"
        )
    return messages


def _examples(ids: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in ids[:_EXAMPLES])
    return shown + (", ..." if ids.size > _EXAMPLES else "")


def _check_feature_rows_agree(features: tuple[RawFeature, ...]) -> None:
    rows = {feature.path.name: feature.values.shape[0] for feature in features}
    if len(set(rows.values())) > 1:
        listed = ", ".join(f"{name} has {count} rows" for name, count in rows.items())
        raise DataError(
            f"{features[0].path.parent}: feature files disagree on the number of items ({listed}); "
            "every feature file needs exactly one row per item"
        )


def _check_nonempty_splits(interactions: RawInteractions) -> None:
    counts = np.bincount(interactions.splits, minlength=len(SPLITS))
    for code, name in enumerate(SPLITS):
        if counts[code] == 0:
            raise DataError(
                f"{interactions.split_sources[code]}: the {name} split has no interactions; "
                "train, valid and test each need at least one"
            )


def _item_count(interactions: RawInteractions, features: tuple[RawFeature, ...]) -> int:
    """Items = feature rows when there are features (every item id must have a row), else max + 1."""
    if not features:
        return int(interactions.items.max()) + 1
    rows = features[0].values.shape[0]
    beyond = np.flatnonzero(interactions.items >= rows)
    if beyond.size:
        row = int(beyond[0])
        raise DataError(
            f"{interactions.locate(row)}: item {interactions.items[row]} has no feature row: "
            f"{features[0].path.name} has {rows} rows (items 0..{rows - 1}; {beyond.size} "
            "interaction(s) name an item beyond them); every item needs one row in each "
            "feature file, row i = item i"
        )
    return rows


def _check_contiguous(kind: str, ids: np.ndarray, count: int, source: str, hint: str) -> None:
    seen = np.zeros(count, dtype=bool)
    seen[ids] = True
    missing = np.flatnonzero(~seen)
    if missing.size:
        raise DataError(
            f"{source}: {kind} ids are not contiguous: {missing.size} of 0..{count - 1} never "
            f"appear (first: {missing[0]}); re-index {kind}s to 0..n-1{hint}"
        )


def _first_repeat(keys: np.ndarray) -> tuple[int, int] | None:
    """(earlier row, later row) of the repeated key whose second occurrence comes first."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    repeats = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
    if not repeats.size:
        return None
    later = int(order[repeats].min())
    earlier = int(np.flatnonzero(keys == keys[later])[0])
    return earlier, later


def _check_duplicates_within_splits(interactions: RawInteractions, pair_keys: np.ndarray) -> None:
    keys = pair_keys * np.int64(len(SPLITS)) + interactions.splits
    found = _first_repeat(keys)
    if found is None:
        return
    earlier, later = found
    total = keys.size - np.unique(keys).size
    raise DataError(
        f"duplicate {SPLITS[interactions.splits[later]]} interaction: user "
        f"{interactions.users[later]}, item {interactions.items[later]} at "
        f"{interactions.locate(earlier)} and again at {interactions.locate(later)} "
        f"({total} repeated interaction(s) in all); keep each pair once"
    )


def _check_pairs_in_one_split(interactions: RawInteractions, pair_keys: np.ndarray) -> None:
    """A pair in two splits; repeats within one split are :func:`_check_duplicates_within_splits`'s."""
    _, first_rows = np.unique(pair_keys * np.int64(len(SPLITS)) + interactions.splits, return_index=True)
    rows = np.sort(first_rows)
    found = _first_repeat(pair_keys[rows])
    if found is None:
        return
    earlier, later = (int(rows[index]) for index in found)
    total = rows.size - np.unique(pair_keys[rows]).size
    raise DataError(
        f"user {interactions.users[later]}, item {interactions.items[later]} is in "
        f"{SPLITS[interactions.splits[earlier]]} at {interactions.locate(earlier)} and in "
        f"{SPLITS[interactions.splits[later]]} at {interactions.locate(later)} "
        f"({total} pair(s) in more than one split); a pair may belong to one split only"
    )


def _check_finite(feature: RawFeature) -> None:
    finite = np.isfinite(feature.values)
    if finite.all():
        return
    bad_rows = np.flatnonzero(~finite.all(axis=1))
    raise DataError(
        f"{feature.path}: {int((~finite).sum())} NaN or Inf value(s) in {bad_rows.size} row(s) of "
        f"the {feature.modality} features (first: row {bad_rows[0]}, i.e. item {bad_rows[0]}; "
        "values are read as float32); replace them with finite numbers"
    )
