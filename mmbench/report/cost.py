"""What each model cost to train, from the timing every run record keeps.

One row per configuration (labelled as in the leaderboards), over the records of the protocol that
selected the epoch, so that a training shared by two protocols counts once. Times are wall-clock
seconds on the machine that ran them (its threads are shown), so they compare runs made the same
way only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Sequence

from tabulate import tabulate

from mmbench.records import RunRecord
from mmbench.report.leaderboard import row_label, without_sweeps


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
            _minutes(row.train_seconds + row.eval_seconds), row.threads,
        ]
        for row in rows
    ]
    headers = [
        "model", "runs", "epochs run", "best epoch", "median epoch (s)", "training (s)",
        "evaluation (s)", "one run", "torch threads",
    ]
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


def _minutes(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
