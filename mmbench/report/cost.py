"""What each model cost to train, from the timing every run record keeps.

One row per configuration (labelled as in the leaderboards), over the records of the protocol that
selected the epoch, so that a training shared by two protocols counts once. Times are wall-clock
seconds on the machine that ran them (its threads are shown), so they compare runs made the same
way only. :func:`cost_points` pairs the time of one run with its test accuracy, per model on its
defaults and tuned, for the cost figure and the tuning-cost table.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from tabulate import tabulate

from mmbench.records import RunRecord
from mmbench.report.leaderboard import row_label, summarise, without_sweeps

COST_METRIC = "recall@20"


@dataclass(frozen=True)
class CostRow:
    """Means over one configuration's trainings (one per seed)."""

    label: str
    runs: int
    epochs_run: float
    best_epoch: float
    median_epoch_seconds: float
    train_seconds: float
    eval_seconds: float
    threads: str


def trainings(records: Sequence[RunRecord]) -> list[RunRecord]:
    """One record per training: those of the protocol that selected its epoch."""
    return [r for r in records if r.data.get("selection_protocol", r.protocol) == r.protocol]


def cost_rows(records: Sequence[RunRecord]) -> list[CostRow]:
    """Per configuration label, the mean cost of one training, cheapest first."""
    by_label: dict[str, list[RunRecord]] = {}
    for record in trainings(without_sweeps(records)):
        if "timing" in record.data:
            by_label.setdefault(row_label(record), []).append(record)
    rows = []
    for label, group in by_label.items():
        timing = [r.data["timing"] for r in group]
        threads = sorted({str(r.data.get("environment", {}).get("torch_threads", "?")) for r in group})
        rows.append(
            CostRow(
                label=label,
                runs=len(group),
                epochs_run=statistics.fmean(r.data.get("epochs_run", 0) for r in group),
                best_epoch=statistics.fmean(r.data.get("best_epoch", 0) for r in group),
                median_epoch_seconds=statistics.fmean(t["median_epoch_seconds"] for t in timing),
                train_seconds=statistics.fmean(t["train_seconds"] for t in timing),
                eval_seconds=statistics.fmean(t["eval_seconds"] for t in timing),
                threads=",".join(threads),
            )
        )
    return sorted(rows, key=lambda row: row.train_seconds + row.eval_seconds)


def render_cost(records: Sequence[RunRecord]) -> str:
    """The cost rows as a markdown table (empty text when no record has timing)."""
    rows = cost_rows(records)
    if not rows:
        return ""
    table = [
        [
            row.label, row.runs, f"{row.epochs_run:.0f}", f"{row.best_epoch:.0f}", f"{row.median_epoch_seconds:.2f}",
            f"{row.train_seconds:,.0f}", f"{row.eval_seconds:,.0f}",
            duration(row.train_seconds + row.eval_seconds), row.threads,
        ]
        for row in rows
    ]
    headers = [
        "model", "runs", "epochs run", "best epoch", "median epoch (s)", "training (s)",
        "evaluation (s)", "one run", "torch threads",
    ]
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


@dataclass(frozen=True)
class CostPoint:
    """One model on its defaults or tuned, under one protocol: the mean over its seeds of the time
    of one run (training + evaluation, in seconds) and of a test metric."""

    model: str
    tuned: bool
    runs: int
    seconds: float
    value: float


def cost_protocol(records: Sequence[RunRecord]) -> str | None:
    """The protocol the cost figure shows: the one that selected the epochs of most tuned trainings
    (of most trainings when none is tuned), the first by name on a tie; None without records."""
    chosen = [r for r in trainings(records) if r.data.get("tuned")] or trainings(records)
    counts = Counter(r.protocol for r in chosen)
    return min(counts, key=lambda protocol: (-counts[protocol], protocol)) if counts else None


def cost_points(records: Sequence[RunRecord], protocol: str, metric: str = COST_METRIC) -> list[CostPoint]:
    """Per model, the point of its default row (label: the model's name) and of its tuned row
    (``MODEL (tuned)``) under ``protocol``, from the records alone; rows without timing or without
    ``metric`` are left out. Runs that repeat one measurement count once, as in the leaderboards."""
    chosen = [r for r in without_sweeps(records) if r.protocol == protocol and "timing" in r.data]
    points = []
    for row in summarise(chosen, [metric]):
        model = row.records[0].model
        if row.label not in (model, f"{model} (tuned)") or math.isnan(row.means[metric]):
            continue
        seconds = statistics.fmean(
            r.data["timing"]["train_seconds"] + r.data["timing"]["eval_seconds"] for r in row.records
        )
        points.append(CostPoint(model, row.label != model, row.runs, seconds, row.means[metric]))
    return sorted(points, key=lambda point: (point.model, point.tuned))


def duration(seconds: float) -> str:
    """``4.2 s`` under ten seconds, ``42 s``, ``12 min 05 s``, or ``3 h 07 min`` from an hour on."""
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
