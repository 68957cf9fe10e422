"""The plots ``mmbench report`` regenerates: ablations, sensitivity sweeps, training curves and cost.

One ablation chart per (model, dataset, protocol) that has ablation variants, one sensitivity plot
per swept (model, param, dataset, protocol), one overview of training curves per dataset (the
lowest-seed run of each plain model), one cost figure per dataset (test recall@20 against the time
of one run, defaults to tuned, from the records only), and one tuning plot per study with a
complete trial in the default Optuna storage (``RESULTS/tuning.db``) or in a SQLite file of the
results folder that a budget file names (``tune-all --storage sqlite:///results/tuning-tiktok.db``).
Files go where ``mmbench plot`` would write them, except the overview, whose name
(``curves_<dataset>_overview``) stays put as models are added, so that links to it keep working.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

from mmbench.records import RunRecord
from mmbench.report import plot_selection as select
from mmbench.report.leaderboard import ablation_groups, sweep_point
from mmbench.tuning.budget import BudgetFile

logger = logging.getLogger("mmbench.report")


def write_report_plots(records: Sequence[RunRecord], results_root: Path) -> list[Path]:
    """Draw and save every report plot that ``records`` support; returns the files written.
    The tuned runs in ``records`` are the ones the leaderboards show (chosen by
    :func:`~mmbench.report.tuning_comparison.current_records`); the cost figures draw them."""
    from mmbench.report.ablation_plot import ablation_figure
    from mmbench.report.curves_plot import curves_figure
    from mmbench.report.figures import save_figure
    from mmbench.report.sensitivity_plot import sensitivity_figure

    written: list[Path] = []
    for (model, dataset, protocol), group in ablation_groups(records).items():
        figure = ablation_figure(group)
        written += save_figure(figure, select.ablation_stem(results_root, model, dataset, protocol))
    sweeps: dict[tuple[str, str, str, str], list[RunRecord]] = {}
    for record in records:
        if (point := sweep_point(record)) is not None:
            key = (record.model, point[0], record.dataset, record.protocol)
            sweeps.setdefault(key, []).append(record)
    for (model, param, dataset, protocol), group in sorted(sweeps.items()):
        figure = sensitivity_figure(group, param)
        written += save_figure(figure, select.sensitivity_stem(results_root, model, param, dataset, protocol))
    for dataset in sorted({r.dataset for r in records}):
        runs = select.reference_runs(records, dataset)
        if not runs:
            continue
        try:
            figure = curves_figure(runs)
        except ValueError as error:
            logger.warning("no training-curve plot for %s: %s", dataset, error)
            continue
        written += save_figure(figure, select.overview_curves_stem(results_root, dataset))
    for dataset in sorted({r.dataset for r in records}):
        written += write_cost_plot(records, results_root, dataset)
    return written


def write_cost_plot(records: Sequence[RunRecord], results_root: Path, dataset: str) -> list[Path]:
    """The cost figure of ``dataset`` from its records, if any of its plain or tuned rows has
    timing; returns the files written."""
    from mmbench.report.cost import COST_METRIC, cost_points, cost_protocol
    from mmbench.report.cost_plot import cost_figure
    from mmbench.report.figures import save_figure

    shown = [r for r in records if r.dataset == dataset]
    protocol = cost_protocol(shown)
    points = cost_points(shown, protocol) if protocol else []
    if not points:
        return []
    figure = cost_figure(points, dataset, protocol, COST_METRIC)
    return save_figure(figure, select.cost_stem(results_root, dataset))


def write_tuning_plots(results_root: Path, budgets: Mapping[str, BudgetFile | None]) -> list[Path]:
    """A tuning plot for each study with a complete trial in ``RESULTS/tuning.db`` and in the
    SQLite files of the results folder that ``budgets`` name."""
    import optuna

    from mmbench.report.figures import save_figure
    from mmbench.report.tuning_plot import tuning_figure
    from mmbench.tuning.storage import default_storage_url, local_file_url, names_missing_file

    named = (local_file_url(b.storage, results_root) for b in budgets.values() if b is not None)
    storages = sorted({default_storage_url(results_root), *filter(None, named)})
    written: list[Path] = []
    for storage in storages:
        if names_missing_file(storage):
            continue
        for summary in sorted(optuna.get_all_study_summaries(storage), key=lambda s: s.study_name):
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            try:
                figure = tuning_figure(study)
            except ValueError as error:
                logger.warning("no tuning plot for study %s: %s", summary.study_name, error)
                continue
            written += save_figure(figure, select.tuning_stem(results_root, summary.study_name))
    return written
