"""Paired significance tests over test users between two leaderboard rows.

A row may hold several seeds. Each user's metric is averaged over seeds first (users present in
every seed), the two rows' averages are paired by user id, and one test runs over the shared
users: Wilcoxon's signed-rank test by default (per-user ranking metrics are far from normal, with
many zeros), or a paired t-test. Both are two-sided, and the users stay the unit of replication.

Both rows are averaged over the same number of seeds: the seeds they share, or, when they share
none, each row's first seeds up to the smaller row's count. An average over three seeds is
smoother than one over two (a user hit in one seed of three scores 1/3, in one of two 1/2), so
rows of different seed counts have per-user differences that are not symmetric around zero even
when the models are equally good, and the signed-rank test then rejects a model against itself
far more often than its level (``benchmarks/paired_test_seed_counts.py`` simulates it; figures in
docs/mmssl.md).
"""

from __future__ import annotations

import logging
import math
import zipfile
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from mmbench.evaluation.metrics import METRICS, PerUserMetric, parse_metric_key
from mmbench.records import PER_USER_FILE, RunRecord

logger = logging.getLogger("mmbench.report")

TESTS = ("wilcoxon", "ttest")
TEST_NAMES = {"wilcoxon": "Wilcoxon signed-rank test", "ttest": "paired t-test"}

SeedValues = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class UserMetric:
    """One row's metric per test user, averaged over its seeds; ``users`` sorted ascending."""

    users: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class PairedResult:
    """The outcome of one paired test: its p-value and how many users it paired."""

    p_value: float
    n_users: int


def is_per_user(metric: str) -> bool:
    """Whether ``metric`` (``name@K``) has a value per user; catalogue metrics such as coverage do not."""
    return isinstance(METRICS[parse_metric_key(metric)[0]], PerUserMetric)


def load_user_values(records: Iterable[RunRecord], metric: str) -> dict[Path, SeedValues | None]:
    """Each record's per-user ``metric`` as (sorted users, values), keyed by its folder: read once
    per table, so a missing file is named once however many rows it is tested against."""
    return {record.path: _load(record, metric) for record in records}


def user_metric(per_seed: Sequence[SeedValues]) -> UserMetric:
    """Each user's value averaged over the seeds of ``per_seed`` (at least one).

    Only users evaluated in every seed are kept, so each average is over the same seeds.
    """
    common = reduce(np.intersect1d, (users for users, _ in per_seed))
    total = np.zeros(len(common), dtype=np.float64)
    for users, values in per_seed:
        total += values[np.searchsorted(users, common)]
    return UserMetric(common, total / len(per_seed))


def _load(record: RunRecord, metric: str) -> SeedValues | None:
    """(sorted users, their values) of one record, or None with a warning naming the file."""
    path = record.path / PER_USER_FILE
    try:
        arrays = record.per_user()
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        logger.warning("no per-user test metrics for %s (%s); its row gets no p-value", path, error)
        return None
    if "users" not in arrays or metric not in arrays:
        logger.warning("%s has no per-user %r; its row gets no p-value", path, metric)
        return None
    order = np.argsort(arrays["users"], kind="stable")
    return arrays["users"][order], arrays[metric][order].astype(np.float64)


def matched_runs(
    a: Sequence[RunRecord], b: Sequence[RunRecord]
) -> tuple[list[RunRecord], list[RunRecord]]:
    """The runs of two rows that enter their paired test: those of the seeds both rows ran, or,
    when they share no seed, each row's lowest seeds up to the smaller row's run count."""
    shared = {_seed(r) for r in a} & {_seed(r) for r in b}
    if shared:
        return [r for r in a if _seed(r) in shared], [r for r in b if _seed(r) in shared]
    count = min(len(a), len(b))
    return sorted(a, key=_seed)[:count], sorted(b, key=_seed)[:count]


def _seed(record: RunRecord) -> int:
    return record.data.get("seed", -1)


def compare_rows(
    a: Sequence[RunRecord],
    b: Sequence[RunRecord],
    values: Mapping[Path, SeedValues | None],
    test: str = "wilcoxon",
) -> PairedResult | None:
    """Two-sided paired ``test`` of row ``a`` against row ``b`` over matched seeds
    (:func:`matched_runs`), from ``values`` (:func:`load_user_values`); None when a run lacks
    per-user values or too few users are shared."""
    runs_a, runs_b = matched_runs(a, b)
    seeds_a, seeds_b = [values[r.path] for r in runs_a], [values[r.path] for r in runs_b]
    if not seeds_a or not seeds_b or any(v is None for v in seeds_a + seeds_b):
        return None
    return paired_test(user_metric(seeds_a), user_metric(seeds_b), test)


def paired_test(a: UserMetric, b: UserMetric, test: str = "wilcoxon") -> PairedResult | None:
    """Two-sided paired ``test`` of ``a`` against ``b`` over the users they share.

    Returns None when fewer than two users are shared. Identical values for every shared user give
    p = 1 (no evidence of a difference; scipy would refuse the Wilcoxon test outright).
    """
    from scipy import stats

    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}")
    _, in_a, in_b = np.intersect1d(a.users, b.users, assume_unique=True, return_indices=True)
    x, y = a.values[in_a], b.values[in_b]
    if len(x) < 2:
        return None
    if np.array_equal(x, y):
        return PairedResult(1.0, len(x))
    if test == "wilcoxon":
        p_value = float(stats.wilcoxon(x, y).pvalue)
    else:
        p_value = float(stats.ttest_rel(x, y).pvalue)
    return PairedResult(p_value, len(x))


def format_p(p_value: float) -> str:
    """A p-value for a table: three decimals, or scientific notation below 0.001."""
    if math.isnan(p_value):
        return "n/a"
    return f"{p_value:.1e}" if p_value < 1e-3 else f"{p_value:.3f}"
