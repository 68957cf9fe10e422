"""Defaults against tuned: which records each table shows, each model's two rows, and what
survives tuning (the best model, and the pairs of models whose order tuning reverses).

A leaderboard shows a default table (every record not tuned) and a tuned table. Of a model tuned
under a ``tune-all`` budget only the runs of its study's current best trial are shown: runs of an
earlier best trial, trained before the study grew, would otherwise join the same ``(tuned)`` row.
A model's default row is its plain one (label: its name); its tuned row is ``MODEL (tuned)``.
Paired tests are :func:`~mmbench.report.significance.compare_rows`, over test users.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from mmbench.records import RunRecord
from mmbench.report.leaderboard import summarise
from mmbench.report.significance import PairedResult, compare_rows, is_per_user, load_user_values
from mmbench.report.table import Row
from mmbench.tuning.budget import BudgetFile, budget_path, read_budget


def shown_records(
    records: Sequence[RunRecord], budget: BudgetFile | None
) -> tuple[list[RunRecord], list[RunRecord]]:
    """``records`` split into those a leaderboard shows and the tuned ones it leaves out.

    Without a budget every record is shown. With one, a tuned record is shown only if it trained
    the current best trial of a study under the budget (same study, same storage): a model tuned
    outside it, or an earlier best trial trained before its study grew, would otherwise share a
    ``MODEL (tuned)`` row with the budget's runs.
    """
    if budget is None:
        return list(records), []
    current = {(entry.study, budget.storage): entry.best_trial for entry in budget.models.values()}
    shown, left_out = [], []
    for record in records:
        tuned = record.data.get("tuned")
        if isinstance(tuned, dict):
            key = (tuned.get("study"), tuned.get("storage"))
            if key not in current or tuned.get("trial") != current[key]:
                left_out.append(record)
                continue
        shown.append(record)
    return shown, left_out


def budgets_of(results_root: Path, records: Sequence[RunRecord]) -> dict[str, BudgetFile | None]:
    """The ``tune-all`` budget of each dataset that ``records`` name (None where it has none)."""
    return {dataset: read_budget(budget_path(results_root, dataset)) for dataset in {r.dataset for r in records}}


def current_records(
    records: Sequence[RunRecord], budgets: dict[str, BudgetFile | None]
) -> tuple[list[RunRecord], list[RunRecord]]:
    """:func:`shown_records` over every dataset, each under its own budget from ``budgets``:
    the records shown, and the tuned ones left out, so that no ``(tuned)`` row mixes two tuned
    configurations."""
    shown: list[RunRecord] = []
    left_out: list[RunRecord] = []
    for dataset in sorted({r.dataset for r in records}):
        kept, dropped = shown_records([r for r in records if r.dataset == dataset], budgets.get(dataset))
        shown += kept
        left_out += dropped
    return shown, left_out


def under_budget(record: RunRecord, budget: BudgetFile) -> bool:
    """Whether a tuned record comes from a study under ``budget`` (whatever its trial)."""
    tuned = record.data.get("tuned") or {}
    studies = {entry.study for entry in budget.models.values()}
    return tuned.get("study") in studies and tuned.get("storage") == budget.storage


@dataclass(frozen=True)
class ModelPair:
    """A model's default and tuned rows under one protocol, and the paired test between them
    (None without a default row, or without per-user values)."""

    model: str
    default: Row | None
    tuned: Row
    p_value: PairedResult | None


@dataclass(frozen=True)
class OrderChange:
    """Two models whose order by the metric's mean reverses with tuning: ``ahead`` leads on defaults."""

    ahead: str
    behind: str
    default: tuple[float, float]  # (ahead, behind)
    tuned: tuple[float, float]
    p_default: PairedResult | None
    p_tuned: PairedResult | None


@dataclass(frozen=True)
class Survival:
    """What survives tuning under one protocol, over the models that have both rows."""

    protocol: str
    pairs: tuple[ModelPair, ...]
    best_default: str | None
    best_tuned: str | None
    changes: tuple[OrderChange, ...]


def model_pairs(records: Sequence[RunRecord], metric: str, test: str = "wilcoxon") -> list[ModelPair]:
    """Every tuned model's pair of rows among ``records`` (one dataset, one protocol), best tuned first."""
    rows = {row.label: row for row in summarise(records, [metric])}
    values = load_user_values(records, metric) if is_per_user(metric) else {}
    pairs = []
    for row in rows.values():
        model = row.records[0].model
        if row.label != f"{model} (tuned)":
            continue
        default = rows.get(model)
        p_value = compare_rows(row.records, default.records, values, test) if default and values else None
        pairs.append(ModelPair(model, default, row, p_value))
    return pairs


def survival(
    records: Sequence[RunRecord], protocol: str, metric: str, test: str = "wilcoxon"
) -> Survival:
    """The best model on defaults and tuned, and every pair whose order tuning reverses, over the
    models of ``records`` (one dataset) under ``protocol`` that have both a default and a tuned row."""
    chosen = [r for r in records if r.protocol == protocol]
    pairs = tuple(model_pairs(chosen, metric, test))
    both = [
        p for p in pairs
        if p.default is not None and not math.isnan(p.default.means[metric]) and not math.isnan(p.tuned.means[metric])
    ]
    values = load_user_values(chosen, metric) if is_per_user(metric) else {}

    def best(side: str) -> str | None:
        ranked = sorted(both, key=lambda p: -getattr(p, side).means[metric])
        return ranked[0].model if ranked else None

    def test_of(a: Row, b: Row) -> PairedResult | None:
        return compare_rows(a.records, b.records, values, test) if values else None

    changes = []
    for a, b in itertools.combinations(both, 2):
        da, db = a.default.means[metric], b.default.means[metric]
        ta, tb = a.tuned.means[metric], b.tuned.means[metric]
        if (da - db) * (ta - tb) < 0:
            ahead, behind = (a, b) if da > db else (b, a)
            changes.append(OrderChange(
                ahead.model, behind.model,
                (ahead.default.means[metric], behind.default.means[metric]),
                (ahead.tuned.means[metric], behind.tuned.means[metric]),
                test_of(ahead.default, behind.default), test_of(ahead.tuned, behind.tuned),
            ))
    return Survival(protocol, pairs, best("default"), best("tuned"), tuple(changes))
