"""The sensitivity plot: test metrics against the values of one hyperparameter swept by ``mmbench sweep``.

Each sweep point is the mean over its seeds with the sample std as error bar. Numeric values are
placed on a numeric axis (logarithmic when they are positive and span two decades or more), other
values as categories in name order. One panel per metric; each y axis spans at least 40% of its
largest value, so that differences of seed-noise size do not look like trends.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from mmbench.records import RunRecord
from mmbench.report.figures import LABEL_SIZE, TICK_SIZE, TITLE_SIZE, new_figure
from mmbench.report.leaderboard import summarise, sweep_point
from mmbench.report.table import Row

SENSITIVITY_METRICS = ("recall@20", "ndcg@20")


def sweep_rows(records: Sequence[RunRecord], param: str, metrics: Sequence[str]) -> list[tuple[object, Row]]:
    """(value, summary row) for each swept value of ``param`` among ``records``, sorted by value."""
    swept = [r for r in records if (point := sweep_point(r)) is not None and point[0] == param]
    rows = [(sweep_point(row.records[0])[1], row) for row in summarise(swept, metrics)]
    if all(_is_number(value) for value, _ in rows):
        return sorted(rows, key=lambda pair: float(pair[0]))
    return sorted(rows, key=lambda pair: str(pair[0]))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _honest_limits(ax: Axes, means: Sequence[float], stds: Sequence[float]) -> None:
    """Show at least a span of 40% of the largest value, so that noise-sized differences look small."""
    low = min(m - s for m, s in zip(means, stds))
    high = max(m + s for m, s in zip(means, stds))
    half = max((high - low) / 2 * 1.15, 0.2 * abs(high))
    centre = (low + high) / 2
    ax.set_ylim(max(0.0, centre - half) if low >= 0 else centre - half, centre + half)


def sensitivity_figure(
    records: Sequence[RunRecord], param: str, metrics: Sequence[str] = SENSITIVITY_METRICS
) -> Figure:
    """Test ``metrics`` (mean ± std over seeds) against ``param`` for one model, dataset, protocol."""
    rows = sweep_rows(records, param, metrics)
    if not rows:
        raise ValueError(f"no sweep records of {param!r}")
    first = rows[0][1].records[0]
    values = [value for value, _ in rows]
    numeric = all(_is_number(v) for v in values)
    x = np.array(values, dtype=float) if numeric else np.arange(len(values), dtype=float)
    figure, axes = new_figure(max(7.5, 5.0 * len(metrics)), 4.8, ncols=len(metrics))
    log_x = numeric and x.min() > 0 and x.max() / x.min() >= 100
    ticks = [f"{v}\n(n={row.runs})" for v, (_, row) in zip(values, rows)]
    for index, (ax, metric) in enumerate(zip(axes, metrics)):
        means = [row.means[metric] for _, row in rows]
        stds = [row.stds[metric] for _, row in rows]
        ax.errorbar(x, means, yerr=stds, marker="o", capsize=4, linewidth=1.6, color=f"C{index}",
                    label="mean ± std over seeds")
        if log_x:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        _honest_limits(ax, means, stds)
        ax.set_xticks(x, ticks, fontsize=TICK_SIZE)
        ax.set_xlabel(f"{param} (n = number of seeds)", fontsize=LABEL_SIZE)
        ax.set_ylabel(f"test {metric} (0–1)", fontsize=LABEL_SIZE)
        ax.set_title(f"test {metric}", fontsize=TITLE_SIZE)
        ax.legend(fontsize=TICK_SIZE, loc="best")
    figure.suptitle(
        f"{first.model}: sensitivity to {param} on {first.dataset} (protocol {first.protocol}, test split)",
        fontsize=TITLE_SIZE + 1,
    )
    return figure
