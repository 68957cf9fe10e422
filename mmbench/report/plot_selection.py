"""Choosing the run records a plot shows, and where its files go by default.

Shared by ``mmbench plot`` and ``mmbench report``, so that both write a plot of the same runs to
the same file. A plot never mixes protocols: without ``--protocol`` it shows the protocol that
selected the runs' epochs (``selection_protocol``) when the runs agree on one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from mmbench.errors import ConfigError
from mmbench.records import RunRecord, is_tuned
from mmbench.report.leaderboard import in_ablation, sweep_point, variant


def plots_dir(results_root: Path) -> Path:
    return Path(results_root) / "plots"


def _slug(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9._+-]+", "-", part).strip("-") for part in parts)


def ablation_stem(results_root: Path, model: str, dataset: str, protocol: str) -> Path:
    return plots_dir(results_root) / _slug("ablation", model, dataset, protocol)


def sensitivity_stem(results_root: Path, model: str, param: str, dataset: str, protocol: str) -> Path:
    return plots_dir(results_root) / _slug("sensitivity", model, param, dataset, protocol)


def curves_stem(results_root: Path, dataset: str, models: Sequence[str]) -> Path:
    return plots_dir(results_root) / _slug("curves", dataset, "+".join(sorted(set(models))))


def overview_curves_stem(results_root: Path, dataset: str) -> Path:
    """The report's curves of every plain model on ``dataset``: one name that survives new models."""
    return plots_dir(results_root) / _slug("curves", dataset, "overview")


def tuning_stem(results_root: Path, study: str) -> Path:
    return plots_dir(results_root) / _slug("tuning", study)


def cost_stem(results_root: Path, dataset: str) -> Path:
    return plots_dir(results_root) / _slug("cost", dataset)


def primary(record: RunRecord) -> bool:
    """Whether the record's protocol is the one that selected its epoch (one per training)."""
    return record.protocol == record.data.get("selection_protocol", record.protocol)


def one_protocol(records: Sequence[RunRecord], protocol: str | None, what: str) -> list[RunRecord]:
    """``records`` under ``protocol``, or under the selection protocol the records share.

    Raises :class:`ConfigError` naming ``what`` when nothing is left or the choice is ambiguous.
    """
    if not records:
        raise ConfigError(f"no completed runs of {what}")
    if protocol is None:
        chosen = sorted({r.data.get("selection_protocol", r.protocol) for r in records})
        present = sorted({r.protocol for r in records})
        if len(chosen) != 1 or chosen[0] not in present:
            raise ConfigError(f"runs of {what} exist under protocols {', '.join(present)}; choose one with --protocol")
        protocol = chosen[0]
    kept = [r for r in records if r.protocol == protocol]
    if not kept:
        present = ", ".join(sorted({r.protocol for r in records}))
        raise ConfigError(f"no runs of {what} under protocol {protocol!r}; runs exist under {present}")
    return kept


def ablation_records(records: Sequence[RunRecord], model: str, dataset: str) -> list[RunRecord]:
    """The :func:`~mmbench.report.leaderboard.in_ablation` runs of ``model`` on ``dataset`` (the
    full model and its variants)."""
    return [r for r in records if r.model == model and r.dataset == dataset and in_ablation(r)]


def sweep_records(records: Sequence[RunRecord], model: str, param: str, dataset: str) -> list[RunRecord]:
    """The runs ``mmbench sweep`` made of ``model``'s ``param`` on ``dataset``."""
    return [
        r for r in records
        if r.model == model and r.dataset == dataset and (point := sweep_point(r)) is not None and point[0] == param
    ]


def reference_runs(records: Sequence[RunRecord], dataset: str) -> list[RunRecord]:
    """One run per plain model on ``dataset`` for an overview of training curves.

    Plain: not a sweep point, not an ablation variant, not tuned. Of each model the run with the
    lowest seed under its selection protocol is taken.
    """
    chosen: dict[str, RunRecord] = {}
    for record in sorted(records, key=lambda r: (r.data.get("seed", 0), r.path.name)):
        plain = sweep_point(record) is None and variant(record) is None and not is_tuned(record)
        if record.dataset == dataset and plain and primary(record):
            chosen.setdefault(record.model, record)
    return [chosen[model] for model in sorted(chosen)]
