"""The ablation bar chart: each variant of one model, mean ± std over seeds, per metric.

Variants are the ``variant`` key that ``mmbench ablate`` writes into run records; the full model
has none (or ``"full"``). Bars are grouped by variant, one colour per metric, with the full model
first and the seed count under each group; a variant of one seed has no error bar.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from mmbench.records import RunRecord
from mmbench.report.figures import LABEL_SIZE, TICK_SIZE, TITLE_SIZE, new_figure
from mmbench.report.leaderboard import ablation_name, ablation_rows
from mmbench.report.published import published_ablation_of
from mmbench.report.table import Row

ABLATION_METRICS = ("recall@20", "ndcg@20")


def _bar_label(row: Row) -> str:
    return f"{ablation_name(row.records[0])}\n(n={row.runs})"


def ablation_figure(
    records: Sequence[RunRecord], metrics: Sequence[str] = ABLATION_METRICS
) -> Figure:
    """Grouped bars of each variant's test ``metrics`` with sample-std error bars over seeds.

    ``records`` hold one model on one dataset under one protocol. Where the paper published the
    variant's value (MMSSL under ``lattice``), a white diamond marks it on the bar.
    """
    first = records[0]
    rows = ablation_rows(records, metrics)
    figure, (ax,) = new_figure(max(6.0, 1.3 * len(rows) + 2.0), 4.8)
    positions = np.arange(len(rows))
    width = 0.8 / len(metrics)
    published = [published_ablation_of(row.records[0]) or {} for row in rows]
    for index, metric in enumerate(metrics):
        means = np.array([row.means[metric] for row in rows])
        stds = np.array([row.spread(metric) for row in rows])
        offset = (index - (len(metrics) - 1) / 2) * width
        bars = ax.bar(positions + offset, means, width, yerr=stds, capsize=4, label=f"{metric} (ours)")
        ax.bar_label(bars, labels=[f"{m:.3f}" for m in means], label_type="center", color="white",
                     fontsize=TICK_SIZE - 1, fontweight="bold")
        marked = [(x, values[metric]) for x, values in zip(positions + offset, published) if metric in values]
        if marked:
            xs, ys = zip(*marked)
            ax.scatter(xs, ys, marker="D", s=36, facecolors="white", edgecolors="black", zorder=3,
                       label="published (paper)" if index == 0 else None)
    ax.set_xticks(positions, [_bar_label(row) for row in rows], fontsize=TICK_SIZE)
    ax.set_ylabel("test metric value (0–1; mean ± std over seeds)", fontsize=LABEL_SIZE)
    ax.set_xlabel("variant (n = number of seeds)", fontsize=LABEL_SIZE)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
    figure.suptitle(
        f"{first.model} ablation on {first.dataset} (protocol {first.protocol}, test split)",
        fontsize=TITLE_SIZE,
    )
    ax.legend(fontsize=TICK_SIZE, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(False, axis="x")
    return figure
