"""Leaderboard tables: one row per model configuration, mean and std over seeds.

A table never mixes datasets or protocols: records are grouped by (dataset, protocol) first and
each group is its own table, headed by what it shows.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass
from typing import Sequence

from tabulate import tabulate

from mmbench.errors import ConfigError
from mmbench.evaluation.metrics import parse_metric_key
from mmbench.records import RunRecord

DEFAULT_METRICS = ("recall@20", "ndcg@20", "precision@20", "hit@20", "recall@50", "ndcg@50")
FORMATS = ("markdown", "csv")


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


def row_label(record: RunRecord) -> str:
    """The model name, marked when the config came from a tuning study."""
    tuned = record.data.get("tuned")
    return f"{record.model} (tuned)" if tuned else record.model


def group_records(records: Sequence[RunRecord]) -> dict[tuple[str, str], list[RunRecord]]:
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for record in records:
        groups.setdefault((record.dataset, record.protocol), []).append(record)
    return dict(sorted(groups.items()))


def summarise(records: Sequence[RunRecord], metrics: Sequence[str]) -> list[Row]:
    """Mean and sample std (0 for a single run) of each metric per configuration label."""
    by_label: dict[str, list[RunRecord]] = {}
    for record in records:
        by_label.setdefault(row_label(record), []).append(record)
    rows = []
    for label, group in sorted(by_label.items()):
        means, stds = {}, {}
        for metric in metrics:
            values = [v for r in group if (v := r.test_metric(metric)) is not None]
            means[metric] = statistics.fmean(values) if values else float("nan")
            stds[metric] = statistics.stdev(values) if len(values) > 1 else 0.0
        seeds = tuple(sorted(r.data.get("seed", -1) for r in group))
        rows.append(Row(label, tuple(group), seeds, means, stds))
    first = metrics[0]
    return sorted(rows, key=lambda row: (math.isnan(row.means[first]), -row.means[first]))


def validate_metrics(metrics: Sequence[str]) -> None:
    for metric in metrics:
        parse_metric_key(metric)


def render(records: Sequence[RunRecord], metrics: Sequence[str] = DEFAULT_METRICS, fmt: str = "markdown") -> str:
    """All (dataset, protocol) tables of ``records`` as one text in ``fmt``."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    validate_metrics(metrics)
    if fmt == "csv":
        return _render_csv(records, metrics)
    parts = []
    for (dataset, protocol), group in group_records(records).items():
        rows = summarise(group, metrics)
        best = {m: max((r.means[m] for r in rows if not math.isnan(r.means[m])), default=None) for m in metrics}
        table = [
            [row.label, row.runs]
            + [_cell(row.means[m], row.stds[m], row.means[m] == best[m] and len(rows) > 1) for m in metrics]
            for row in rows
        ]
        heading = f"### {dataset} — protocol `{protocol}` — test split, mean ± std over seeds"
        parts.append(heading + "\n\n" + tabulate(table, headers=["model", "runs", *metrics], tablefmt="github"))
    return "\n\n".join(parts) if parts else "no completed runs found"


def _cell(mean: float, std: float, best: bool) -> str:
    if math.isnan(mean):
        return "n/a"
    text = f"{mean:.4f} ± {std:.4f}"
    return f"**{text}**" if best else text


def _render_csv(records: Sequence[RunRecord], metrics: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["dataset", "protocol", "model", "runs", "seeds"]
    for metric in metrics:
        header += [metric, f"{metric}_std"]
    writer.writerow(header)
    for (dataset, protocol), group in group_records(records).items():
        for row in summarise(group, metrics):
            line = [dataset, protocol, row.label, row.runs, " ".join(map(str, row.seeds))]
            for metric in metrics:
                line += [f"{row.means[metric]:.6f}", f"{row.stds[metric]:.6f}"]
            writer.writerow(line)
    return buffer.getvalue()
