"""Training curves: the validation metric and the training loss per epoch, one line per run.

Read from each run's ``history.csv`` (one row per validation: ``epoch``, the loss parts and
``valid_<metric>``). The epoch the run selected (``best_epoch``) is marked with a star.
"""

from __future__ import annotations

import csv
import logging
from typing import Sequence

from matplotlib.figure import Figure

from mmbench.records import HISTORY_FILE, RunRecord
from mmbench.report.figures import LABEL_SIZE, TICK_SIZE, TITLE_SIZE, new_figure
from mmbench.report.leaderboard import row_label

logger = logging.getLogger("mmbench.report")


def read_history(record: RunRecord) -> dict[str, list[float]] | None:
    """The columns of a run's history as floats, or None (with a warning naming the file)."""
    path = record.path / HISTORY_FILE
    try:
        with path.open(newline="") as stream:
            rows = list(csv.DictReader(stream))
        columns = {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}
    except (OSError, ValueError, TypeError) as error:
        logger.warning("skipping %s: unreadable history (%s)", path, error)
        return None
    if "epoch" not in columns:
        logger.warning("skipping %s: no epoch column", path)
        return None
    return columns


def run_label(record: RunRecord) -> str:
    """A legend entry: configuration label and seed."""
    return f"{row_label(record)}, seed {record.data.get('seed', '?')}"


def curves_figure(records: Sequence[RunRecord], metric: str = "recall@20") -> Figure:
    """Validation ``metric`` (left) and mean training loss (right) per epoch for ``records``.

    Runs whose history is missing, unreadable or lacks the metric are named in a warning and left
    out; a :class:`ValueError` is raised when none is left.
    """
    figure, (metric_ax, loss_ax) = new_figure(12.0, 5.2, ncols=2)
    drawn = 0
    for record in records:
        history = read_history(record)
        if history is None:
            continue
        column = f"valid_{metric}"
        if column not in history:
            logger.warning("skipping %s: its history has no %s", record.path / HISTORY_FILE, column)
            continue
        epochs = history["epoch"]
        (line,) = metric_ax.plot(epochs, history[column], marker="o", markersize=2.5, linewidth=1.4,
                                 label=run_label(record))
        best = record.data.get("best_epoch")
        if best in epochs:
            metric_ax.plot([best], [history[column][epochs.index(best)]], marker="*", markersize=13,
                           color=line.get_color(), markeredgecolor="black", linestyle="none")
        if "loss" in history:
            loss_ax.plot(epochs, history["loss"], linewidth=1.4, color=line.get_color())
        drawn += 1
    if not drawn:
        raise ValueError(f"none of the {len(records)} runs has a readable history with valid_{metric}")
    protocols = sorted({r.data.get("selection_protocol", r.protocol) for r in records})
    datasets = sorted({r.dataset for r in records})
    metric_ax.set_title(f"validation {metric} (★ = selected epoch)", fontsize=TITLE_SIZE)
    metric_ax.set_xlabel("epoch", fontsize=LABEL_SIZE)
    metric_ax.set_ylabel(f"validation {metric} (0–1)", fontsize=LABEL_SIZE)
    loss_ax.set_title("training loss", fontsize=TITLE_SIZE)
    loss_ax.set_xlabel("epoch", fontsize=LABEL_SIZE)
    loss_ax.set_ylabel("total training loss (mean per batch)", fontsize=LABEL_SIZE)
    figure.suptitle(
        f"Training curves on {', '.join(datasets)} (validation under protocol {', '.join(protocols)})",
        fontsize=TITLE_SIZE + 1,
    )
    handles, labels = metric_ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(5, len(labels)), fontsize=TICK_SIZE)
    return figure
