"""The shapes a leaderboard is made of: a row per model configuration and a table per
(dataset, protocol), shared by the table builder (:mod:`mmbench.report.leaderboard`) and the
renderers (:mod:`mmbench.report.formats`) so that neither has to import the other."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mmbench.records import RunRecord
from mmbench.report.significance import PairedResult


@dataclass(frozen=True)
class Row:
    """One model configuration within one (dataset, protocol) group."""

    label: str
    records: tuple[RunRecord, ...]
    seeds: tuple[int, ...]
    means: dict[str, float]
    stds: dict[str, float]

    @property
    def runs(self) -> int:
        return len(self.records)

    def spread(self, metric: str) -> float:
        """The sample std over seeds to show; NaN for a single run, which has no spread."""
        return self.stds[metric] if self.runs > 1 else math.nan

    def value_text(self, metric: str, pm: str = "±") -> str:
        """The mean with its std over seeds; a single run shows only its value."""
        mean, spread = self.means[metric], self.spread(metric)
        if math.isnan(mean):
            return "n/a"
        return f"{mean:.4f}" if math.isnan(spread) else f"{mean:.4f} {pm} {spread:.4f}"


@dataclass(frozen=True)
class Table:
    """One (dataset, protocol) leaderboard: its rows, the best mean per metric and the p-values.

    ``p_values`` maps a row label to the paired test of the reference row (the best by the first
    metric, or the row chosen by label) against it; it is empty when no test was asked for or the
    table has one row.
    """

    dataset: str
    protocol: str
    metrics: tuple[str, ...]
    rows: tuple[Row, ...]
    best: dict[str, float | None]
    test: str | None
    p_values: dict[str, PairedResult | None]
    reference_index: int = 0

    @property
    def reference(self) -> Row:
        return self.rows[self.reference_index]

    @property
    def reference_is_best(self) -> bool:
        return self.reference_index == 0

    def is_best(self, row: Row, metric: str) -> bool:
        return len(self.rows) > 1 and row.means[metric] == self.best[metric]
