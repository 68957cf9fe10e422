"""Leaderboard tables: one row per model configuration, mean and std over seeds, with p-values.

A table never mixes datasets or protocols: records are grouped by (dataset, protocol) first and
each group is its own table, headed by what it shows. Rows are labelled by model, ablation variant
(``mmssl [w/o-CL]``), sweep point (``lightgcn [n_layers=2]``), the config keys set on the command
line (``mmssl [epochs=1]``, so that a short budget never joins the default row) and tuning
(``lightgcn (tuned)``).
Sweep records belong in sensitivity plots: commands drop them with :func:`without_sweeps` unless
asked to keep them. The best row by the first metric is tested against every other row over test
users (see :mod:`mmbench.report.significance`); a catalogue metric first (coverage, gini) has no
per-user values, so that table gets no p-values.
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

from mmbench.errors import ConfigError
from mmbench.evaluation.metrics import higher_is_better, parse_metric_key
from mmbench.records import RunRecord, is_tuned
from mmbench.report import formats
from mmbench.report.significance import TESTS, PairedResult, compare_rows, is_per_user, load_user_values
from mmbench.report.table import Row, Table

DEFAULT_METRICS = ("recall@20", "ndcg@20", "precision@20", "hit@20", "recall@50", "ndcg@50")
FORMATS = ("markdown", "latex", "html", "csv")
FULL_VARIANT = "full"


def variant(record: RunRecord) -> str | None:
    """The ablation variant of a record, None for the full model."""
    name = record.data.get("variant")
    return None if name in (None, "", FULL_VARIANT) else str(name)


def has_variants(records: Sequence[RunRecord]) -> bool:
    """Whether any of ``records`` is an ablation variant."""
    return any(variant(record) is not None for record in records)


def ablation_groups(records: Sequence[RunRecord]) -> dict[tuple[str, str, str], list[RunRecord]]:
    """The :func:`in_ablation` records of each (model, dataset, protocol) that has ablation
    variants, sorted by that key: what an ablation table or chart shows."""
    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for record in filter(in_ablation, records):
        groups.setdefault((record.model, record.dataset, record.protocol), []).append(record)
    return {key: group for key, group in sorted(groups.items()) if has_variants(group)}


def in_ablation(record: RunRecord) -> bool:
    """Whether a record may stand in its model's ablation: not a sweep point and not tuned.
    Variants train the model's defaults less one part, so a tuned full model is no bar of it."""
    return sweep_point(record) is None and not is_tuned(record)


def ablation_rows(records: Sequence[RunRecord], metrics: Sequence[str]) -> list[Row]:
    """One summary row per configuration of ``records`` (one model, dataset and protocol).

    The full model comes first, the variants follow in name order; sweep records are left out.
    """
    rows = summarise(without_sweeps(records), metrics)
    return sorted(rows, key=lambda row: (variant(row.records[0]) is not None, row.label))


def sweep_point(record: RunRecord) -> tuple[str, object] | None:
    """(param, value) of a record written by ``mmbench sweep``, else None."""
    sweep = record.data.get("sweep")
    if isinstance(sweep, dict) and "param" in sweep:
        return str(sweep["param"]), sweep.get("value")
    return None


def command_line_overrides(record: RunRecord) -> dict[str, object]:
    """The config keys a record's command set with ``--set`` or ``--epochs``, sorted by key."""
    overrides = record.data.get("overrides")
    return dict(sorted(overrides.items())) if isinstance(overrides, dict) else {}


def without_sweeps(records: Sequence[RunRecord]) -> list[RunRecord]:
    """The records not written by ``mmbench sweep``: the ones main leaderboards show."""
    return [r for r in records if sweep_point(r) is None]


def modality_selection(record: RunRecord) -> list[str] | None:
    """The feature sets a record's command chose with ``--modalities`` when they were not the
    dataset's default ones, else None."""
    names = record.data.get("modality_selection")
    return [str(name) for name in names] if isinstance(names, list) else None


def row_label(record: RunRecord) -> str:
    """Model name, then ``[variant]``, ``[param=value]`` of a sweep, ``[modalities=...]`` of a
    non-default feature-set choice and ``[key=value, ...]`` of the command line's overrides when
    set, then ``(tuned)`` if tuned."""
    label = record.model
    if (name := variant(record)) is not None:
        label += f" [{name}]"
    if (point := sweep_point(record)) is not None:
        label += f" [{point[0]}={point[1]}]"
    return label + _settings_suffix(record)


def ablation_name(record: RunRecord) -> str:
    """A record's name within its model's ablation: the variant (``full`` for the full model), then
    the command line's overrides and tuning as in :func:`row_label`."""
    return (variant(record) or "full") + _settings_suffix(record)


def as_declared(record: RunRecord) -> bool:
    """Whether a record ran its model's configuration as declared: no command-line overrides, not
    tuned, on the dataset's default feature sets (what a published number for that model or
    variant describes)."""
    return (
        not command_line_overrides(record)
        and not record.data.get("tuned")
        and modality_selection(record) is None
    )


def _settings_suffix(record: RunRecord) -> str:
    selection = modality_selection(record)
    suffix = f" [modalities={','.join(selection)}]" if selection is not None else ""
    overrides = command_line_overrides(record)
    if overrides:
        suffix += " [" + ", ".join(f"{key}={value}" for key, value in overrides.items()) + "]"
    return f"{suffix} (tuned)" if record.data.get("tuned") else suffix


def group_records(records: Sequence[RunRecord]) -> dict[tuple[str, str], list[RunRecord]]:
    """Records by (dataset, protocol), sorted by that key."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for record in records:
        groups.setdefault((record.dataset, record.protocol), []).append(record)
    return dict(sorted(groups.items()))


def _distinct_runs(group: Sequence[RunRecord]) -> list[RunRecord]:
    """One row's records with repeats of one measurement dropped: of the runs that share a seed, a
    config digest and a dataset checksum (``mmbench ablate``'s ``full`` variant repeats a plain
    ``mmbench run``, for example), the one that finished last is kept. Records without a config
    digest are all kept."""
    latest: dict[tuple, RunRecord] = {}
    kept: list[RunRecord] = []
    for record in group:
        digest = record.data.get("config_digest")
        if digest is None:
            kept.append(record)
            continue
        key = (record.data.get("seed"), digest, record.data.get("dataset_checksum"))
        previous = latest.get(key)
        if previous is None or str(record.data.get("finished", "")) >= str(previous.data.get("finished", "")):
            latest[key] = record
    return kept + list(latest.values())


def summarise(records: Sequence[RunRecord], metrics: Sequence[str]) -> list[Row]:
    """Mean and sample std (0 for a single run) of each metric per configuration label, each
    measurement counted once (:func:`_distinct_runs`).

    Rows are sorted best first by the first metric (rows without it last).
    """
    by_label: dict[str, list[RunRecord]] = {}
    for record in records:
        by_label.setdefault(row_label(record), []).append(record)
    rows = []
    for label, all_runs in sorted(by_label.items()):
        group = _distinct_runs(all_runs)
        means, stds = {}, {}
        for metric in metrics:
            values = [v for r in group if (v := r.test_metric(metric)) is not None]
            means[metric] = statistics.fmean(values) if values else float("nan")
            stds[metric] = statistics.stdev(values) if len(values) > 1 else 0.0
        seeds = tuple(sorted(r.data.get("seed", -1) for r in group))
        rows.append(Row(label, tuple(group), seeds, means, stds))
    first = metrics[0]
    sign = -1.0 if higher_is_better(first) else 1.0
    return sorted(rows, key=lambda row: (math.isnan(row.means[first]), sign * row.means[first]))


def _best_value(means: Sequence[float], metric: str) -> float | None:
    """The best of the defined means: the highest, or the lowest for a lower-is-better metric."""
    defined = [m for m in means if not math.isnan(m)]
    if not defined:
        return None
    return max(defined) if higher_is_better(metric) else min(defined)


def validate_metrics(metrics: Sequence[str]) -> None:
    """Raise :class:`ConfigError` for a metric name that is not ``name@K``."""
    if not metrics:
        raise ConfigError("--metrics expects at least one metric, for example recall@20")
    for metric in metrics:
        parse_metric_key(metric)


def build_tables(
    records: Sequence[RunRecord],
    metrics: Sequence[str],
    test: str | None = "wilcoxon",
    reference: str | None = None,
) -> list[Table]:
    """One :class:`Table` per (dataset, protocol) of ``records``; ``test=None`` skips the p-values.

    ``reference`` is the label of the row tested against the others (default: the best row); a
    label missing from a table is an error naming the labels it has.
    """
    if test is not None and test not in TESTS:
        raise ConfigError(f"unknown significance test {test!r}; valid tests: {', '.join(TESTS)}")
    validate_metrics(metrics)
    tables = []
    for (dataset, protocol), group in group_records(records).items():
        rows = summarise(group, metrics)
        best = {m: _best_value([r.means[m] for r in rows], m) for m in metrics}
        index = _reference_index(rows, reference, f"{dataset}, protocol {protocol}")
        p_values = _p_values(rows, index, metrics[0], test)
        tables.append(Table(dataset, protocol, tuple(metrics), tuple(rows), best, test, p_values, index))
    return tables


def _reference_index(rows: Sequence[Row], reference: str | None, where: str) -> int:
    if reference is None:
        return 0
    labels = [row.label for row in rows]
    if reference not in labels:
        raise ConfigError(
            f"no row {reference!r} in the table of {where}; its rows are: {', '.join(labels)} "
            "(narrow the tables with --dataset/--protocol, or pick one of these labels)"
        )
    return labels.index(reference)


def _p_values(rows: Sequence[Row], index: int, metric: str, test: str | None) -> dict[str, PairedResult | None]:
    """The reference row (``rows[index]``) tested against each other row on ``metric``, if per user."""
    chosen = rows[index]
    if test is None or len(rows) < 2 or math.isnan(chosen.means[metric]) or not is_per_user(metric):
        return {}
    values = load_user_values((record for row in rows for record in row.records), metric)
    return {row.label: compare_rows(chosen.records, row.records, values, test) for row in rows if row is not chosen}


def metrics_for(records: Sequence[RunRecord]) -> tuple[str, ...]:
    """The default columns, or, when no record has them (runs with other ``--ks``), recall, ndcg,
    precision and hit at the selection metric's K, then recall and ndcg at the largest K."""
    tested = [r.data.get("metrics", {}).get("test", {}) for r in records]
    if not tested or any(DEFAULT_METRICS[0] in metrics for metrics in tested):
        return DEFAULT_METRICS
    ks = sorted({int(key.partition("@")[2]) for metrics in tested for key in metrics if "@" in key})
    k = str(records[0].data.get("selection_metric", f"recall@{ks[0]}")).partition("@")[2]
    return (
        *(f"{name}@{k}" for name in ("recall", "ndcg", "precision", "hit")),
        *((f"recall@{ks[-1]}", f"ndcg@{ks[-1]}") if str(ks[-1]) != k else ()),
    )


def render(
    records: Sequence[RunRecord],
    metrics: Sequence[str] | None = None,
    fmt: str = "markdown",
    test: str | None = "wilcoxon",
    reference: str | None = None,
) -> str:
    """All (dataset, protocol) tables of ``records`` as one text in ``fmt`` (default columns:
    :func:`metrics_for`)."""
    metrics = metrics_for(records) if metrics is None else metrics
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    tables = build_tables(records, metrics, test, reference)
    if fmt == "csv":
        return formats.csv_text(tables)
    if not tables:
        return "no completed runs found"
    return {"markdown": formats.markdown, "latex": formats.latex, "html": formats.html}[fmt](tables)
