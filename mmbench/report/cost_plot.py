"""The cost figure: each model's test accuracy against the time of one training run.

One point per model on its defaults and one per tuned model, both axes means over seeds read from
the run records (:func:`~mmbench.report.cost.cost_points`); an arrow goes from a model's default
point to its tuned one, so that what tuning bought and what it cost per run show together. Time is
on a log axis: one run of the models here ranges from seconds to hours.
"""

from __future__ import annotations

from typing import Sequence

from matplotlib.figure import Figure

from mmbench.report.cost import CostPoint
from mmbench.report.figures import LABEL_SIZE, TICK_SIZE, TITLE_SIZE, new_figure

DEFAULT_STYLE = {"marker": "o", "color": "tab:blue", "label": "defaults"}
TUNED_STYLE = {"marker": "^", "color": "tab:orange", "label": "tuned"}


def cost_figure(points: Sequence[CostPoint], dataset: str, protocol: str, metric: str) -> Figure:
    """Scatter of ``points`` (test ``metric`` against seconds per run) with default-to-tuned arrows."""
    figure, (ax,) = new_figure(8.0, 5.5)
    for tuned, style in ((False, DEFAULT_STYLE), (True, TUNED_STYLE)):
        chosen = [p for p in points if p.tuned == tuned]
        if chosen:
            ax.scatter([p.seconds for p in chosen], [p.value for p in chosen], s=40, zorder=3, **style)
    by_model: dict[str, dict[bool, CostPoint]] = {}
    for point in points:
        by_model.setdefault(point.model, {})[point.tuned] = point
    for model, pair in sorted(by_model.items()):
        if len(pair) == 2:
            ax.annotate(
                "", xy=(pair[True].seconds, pair[True].value), xytext=(pair[False].seconds, pair[False].value),
                arrowprops={"arrowstyle": "->", "color": "0.4", "shrinkA": 4, "shrinkB": 4},
            )
        shown = pair.get(True, pair.get(False))
        ax.annotate(model, (shown.seconds, shown.value), xytext=(5, 3), textcoords="offset points",
                    fontsize=TICK_SIZE - 1)
    ax.set_xscale("log")
    ax.set_xlabel("time of one run, training + evaluation (s, log scale; mean over seeds)",
                  fontsize=LABEL_SIZE)
    ax.set_ylabel(f"test {metric} (mean over seeds)", fontsize=LABEL_SIZE)
    ax.legend(fontsize=TICK_SIZE, loc="lower right")
    figure.suptitle(f"{dataset}: accuracy against training cost, defaults → tuned (protocol {protocol})",
                    fontsize=TITLE_SIZE)
    return figure
