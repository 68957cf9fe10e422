"""The ablation bar chart: each variant of one model, mean ± std over seeds, per metric.

Variants are the ``variant`` key that ``mmbench ablate`` writes into run records; the full model
has none (or ``"full"``). Bars are grouped by variant, one colour per metric, with the full model
first and the seed count under each group.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from mmbench.records import RunRecord
from mmbench.report.figures import LABEL_SIZE, TICK_SIZE, TITLE_SIZE, new_figure
from mmbench.report.leaderboard import Row, ablation_name, ablation_rows

ABLATION_METRICS = ("recall@20", "ndcg@20")


def _bar_label(row: Row) -> str:
    return f"{ablation_name(row.records[0])}\n(n={row.runs})"


def ablation_figure(
    records: Sequence[RunRecord], metrics: Sequence[str] = ABLATION_METRICS
) -> Figure:
    """Grouped bars of each variant's test ``metrics`` with sample-std error bars over seeds.

    ``records`` hold one model on one dataset under one protocol.
    """
    first = records[0]
    rows = ablation_rows(records, metrics)
    figure, (ax,) = new_figure(max(6.0, 1.3 * len(rows) + 2.0), 4.8)
    positions = np.arange(len(rows))
    width = 0.8 / len(metrics)
    for index, metric in enumerate(metrics):
        means = np.array([row.means[metric] for row in rows])
        stds = np.array([row.stds[metric] for row in rows])
        offset = (index - (len(metrics) - 1) / 2) * width
        bars = ax.bar(positions + offset, means, width, yerr=stds, capsize=4, label=metric)
        ax.bar_label(bars, labels=[f"{m:.3f}" for m in means], padding=2, fontsize=TICK_SIZE - 2)
    ax.set_xticks(positions, [_bar_label(row) for row in rows], fontsize=TICK_SIZE)
    ax.set_ylabel("test metric value (0–1; mean ± std over seeds)", fontsize=LABEL_SIZE)
    ax.set_xlabel("variant (n = number of seeds)", fontsize=LABEL_SIZE)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
    ax.set_title(
        f"{first.model} ablation on {first.dataset} (protocol {first.protocol}, test split)",
        fontsize=TITLE_SIZE,
    )
    ax.legend(title="metric", fontsize=TICK_SIZE, title_fontsize=TICK_SIZE, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(False, axis="x")
    return figure
