"""``mmbench report``: regenerate every report under results/ from stored run records.

Reads run records only and never trains. Unreadable records are named in a warning and skipped
(see :func:`mmbench.records.load_records`), and so are runs whose per-user metrics or history are
missing, for the p-values or curves they would feed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mmbench.atomic import write_text_atomic
from mmbench.cli.common import add_results_argument
from mmbench.errors import ConfigError
from mmbench.records import RunRecord, is_tuned, load_records
from mmbench.report import plot_selection as select
from mmbench.report.cost import render_cost
from mmbench.report.leaderboard import render, without_sweeps
from mmbench.report.readme_blocks import fill_blocks
from mmbench.report.reference_tests import REFERENCE_MODELS, render_reference_tests
from mmbench.report.reproduction import render_reproduction
from mmbench.report.tuned_report import render_tuned_section
from mmbench.report.tuning_comparison import budgets_of, current_records
from mmbench.tuning.budget import BudgetFile, budget_path

COMMAND = "mmbench report"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="regenerate results/ reports from stored runs (never trains)",
        description="Write RESULTS/reproduction.md, RESULTS/leaderboard_<dataset>.md (with Wilcoxon "
        "p-values; tuned rows in their own tables, beside the budget of `mmbench tune-all`) and "
        "RESULTS/plots/ (ablation charts, sensitivity sweeps, training curves, cost figures, the "
        "studies in RESULTS/tuning.db) from the run records under RESULTS/runs. Sweep runs appear "
        "in the sensitivity plots only, unless --include-sweeps adds them to the leaderboards.",
    )
    parser.add_argument(
        "--include-sweeps", action="store_true", help="also list `mmbench sweep` runs in the leaderboards"
    )
    parser.add_argument("--no-plots", action="store_true", help="write the tables only")
    parser.add_argument(
        "--readme", type=Path, metavar="FILE",
        help="a file whose `<!-- mmbench-report: ... -->` blocks are regenerated too (the "
        "repository's curated results: `mmbench report --results results --readme README.md`)",
    )
    add_results_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    records = load_records(args.results)
    if not records:
        raise ConfigError(f"no completed runs under {args.results / 'runs'}; nothing to report")
    readme = _readme(args.readme)
    readme_text = None if readme is None else readme.read_text(encoding="utf-8")
    budgets = budgets_of(args.results, records)
    current, left_out = current_records(records, budgets)
    main = current if args.include_sweeps else without_sweeps(current)
    main_left_out = left_out if args.include_sweeps else without_sweeps(left_out)
    filled_readme = None if readme_text is None else fill_blocks(readme_text, main, str(readme))
    written = []
    reproduction = args.results / "reproduction.md"
    write_text_atomic(reproduction, render_reproduction(without_sweeps(current), COMMAND))
    written.append(reproduction)
    for dataset in sorted({r.dataset for r in main}):
        path = args.results / f"leaderboard_{dataset}.md"
        write_text_atomic(path, _leaderboard(args, dataset, main, current, main_left_out, budgets[dataset]))
        written.append(path)
    if readme is not None and filled_readme != readme_text:
        write_text_atomic(readme, filled_readme)
        written.append(readme)
    if not args.no_plots:
        from mmbench.report.report_plots import write_report_plots, write_tuning_plots

        written += write_report_plots(current, args.results)
        written += write_tuning_plots(args.results, budgets)
    for path in written:
        print(f"wrote {path}")
    return 0


def _leaderboard(
    args: argparse.Namespace, dataset: str, main: list[RunRecord], current: list[RunRecord],
    left_out: list[RunRecord], budget: BudgetFile | None,
) -> str:
    """``leaderboard_<dataset>.md``: the default tables, each model against the reference models,
    the tuned section, then the cost of every training with the cost figure. ``main`` holds the
    records the tables show, ``current`` the same with sweeps, and ``left_out`` the tuned runs of
    ``main``'s kind that the datasets' ``tune-all`` budgets leave out
    (:func:`~mmbench.report.tuning_comparison.current_records`)."""
    budget_file = budget_path(args.results, dataset)
    shown = [r for r in main if r.dataset == dataset]
    left_out = [r for r in left_out if r.dataset == dataset]
    defaults = [r for r in shown if not is_tuned(r)]
    sweeps = "are listed as MODEL [PARAM=VALUE]" if args.include_sweeps else "are not listed (see `plots/`)"
    text = (
        f"# Leaderboard: {dataset}\n\nGenerated by `{COMMAND}` from stored run records; do not edit "
        f"by hand. Bold: the best mean of each column. Runs of `mmbench sweep` {sweeps}. Tuned rows "
        "have their own tables, below the tables of the models' defaults.\n\n"
    )
    text += render(defaults) if defaults else "No run of a model on its defaults yet."
    against = render_reference_tests(defaults)
    if against:
        names = " and ".join(REFERENCE_MODELS)
        text += f"\n\n## Against the references: {names}\n\n" + against
    tuned = render_tuned_section(shown, budget, budget_file.relative_to(args.results).as_posix(), left_out)
    if tuned:
        text += "\n\n" + tuned
    cost = render_cost([r for r in current if r.dataset == dataset])
    if cost:
        text += (
            "\n\n## Training cost\n\nMean over the seeds of one training (a training serves every "
            "protocol of its command), in wall-clock seconds on the machine that ran it, from the "
            "`timing` of each record. Runs made under different loads or thread counts do not "
            "compare.\n\n" + cost
        )
        if not args.no_plots:
            figure = select.cost_stem(args.results, dataset).relative_to(args.results).as_posix() + ".png"
            text += f"\n\n![test recall@20 against the time of one run, defaults to tuned]({figure})"
    return text + "\n"


def _readme(path: Path | None) -> Path | None:
    """The file whose report blocks to refresh: ``--readme``, which must exist; none without it, so
    that a user's own results never rewrite a README they did not name."""
    if path is not None and not path.is_file():
        raise ConfigError(f"--readme {path}: no such file; give an existing file or leave --readme out")
    return path
