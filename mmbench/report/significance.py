"""Paired significance tests over test users between two leaderboard rows.

A row may hold several seeds. The standard approach for comparing recommenders, and the one used
here, is to average each user's metric over the row's seeds first (users present in every seed),
then pair the two rows' averages by user id and run one test over the shared users: Wilcoxon's
signed-rank test by default (per-user ranking metrics are far from normal, with many zeros), or a
paired t-test. Both are two-sided. Averaging over seeds keeps the users as the unit of
replication and lets rows with different seed counts be compared.
"""

from __future__ import annotations

import logging
import math
import zipfile
from dataclasses import dataclass
from functools import reduce
from typing import Sequence

import numpy as np

from mmbench.evaluation.metrics import METRICS, PerUserMetric, parse_metric_key
from mmbench.records import PER_USER_FILE, RunRecord

logger = logging.getLogger("mmbench.report")

TESTS = ("wilcoxon", "ttest")
TEST_NAMES = {"wilcoxon": "Wilcoxon signed-rank test", "ttest": "paired t-test"}


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


def user_metric(records: Sequence[RunRecord], metric: str) -> UserMetric | None:
    """Each user's ``metric`` averaged over ``records``; None (with a warning) if a record lacks it.

    Only users evaluated in every record are kept, so each average is over the same seeds.
    """
    per_seed = []
    for record in records:
        loaded = _load(record, metric)
        if loaded is None:
            return None
        per_seed.append(loaded)
    if not per_seed:
        return None
    common = reduce(np.intersect1d, (users for users, _ in per_seed))
    total = np.zeros(len(common), dtype=np.float64)
    for users, values in per_seed:
        total += values[np.searchsorted(users, common)]
    return UserMetric(common, total / len(per_seed))


def _load(record: RunRecord, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
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
