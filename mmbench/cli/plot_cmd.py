"""``mmbench plot ablation|curves|tuning|sensitivity``: figures from stored runs and studies.

Each writes a PNG and an SVG (default under RESULTS/plots/, or ``--out STEM``) and trains nothing.
Matplotlib loads inside the handlers only, so that other commands start fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mmbench.cli.common import add_protocol_argument, add_results_argument, parse_int_list, parse_name_list
from mmbench.errors import ConfigError
from mmbench.records import RUN_FILE, RunRecord, load_records
from mmbench.report import plot_selection as select
from mmbench.report.leaderboard import has_variants, sweep_point, validate_metrics


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot", help="draw ablation, training-curve, tuning and sensitivity plots (PNG + SVG)",
        description="Draw a plot from stored run records or an Optuna study; writes STEM.png and STEM.svg.",
    )
    kinds = parser.add_subparsers(dest="plot_kind", metavar="KIND", required=True)

    ablation = kinds.add_parser("ablation", help="bar chart of a model's ablation variants (mmbench ablate)")
    ablation.add_argument("--model", required=True, help="the ablated model, e.g. mmssl")
    ablation.add_argument("--dataset", required=True, help="dataset name of the runs")
    ablation.add_argument("--metrics", default="recall@20,ndcg@20", help="comma-separated test metrics")
    _add_common(ablation, protocol=True)
    ablation.set_defaults(handler=_ablation)

    curves = kinds.add_parser("curves", help="validation metric and training loss per epoch of chosen runs")
    curves.add_argument("--runs", nargs="+", type=Path, metavar="DIR", help="run folders (holding run.json)")
    curves.add_argument("--models", help="or: comma-separated models whose stored runs to draw")
    curves.add_argument("--dataset", help="with --models: the dataset name of the runs")
    curves.add_argument("--seeds", help="with --models: only these seeds (comma-separated)")
    curves.add_argument("--metric", default="recall@20", help="validation metric to draw (default: recall@20)")
    _add_common(curves, protocol=False)
    curves.set_defaults(handler=_curves)

    tuning = kinds.add_parser("tuning", help="optimisation history and importances of an Optuna study")
    tuning.add_argument("--study", required=True, help="study name (mmbench tune names it MODEL-DATASET)")
    tuning.add_argument("--storage", help="Optuna storage URL (default: sqlite:///RESULTS/tuning.db)")
    _add_common(tuning, protocol=False)
    tuning.set_defaults(handler=_tuning)

    sensitivity = kinds.add_parser("sensitivity", help="test metrics against one hyperparameter (mmbench sweep)")
    sensitivity.add_argument("--model", required=True, help="the swept model")
    sensitivity.add_argument("--param", required=True, help="the swept config key")
    sensitivity.add_argument("--dataset", required=True, help="dataset name of the runs")
    sensitivity.add_argument("--metrics", default="recall@20,ndcg@20", help="comma-separated test metrics")
    _add_common(sensitivity, protocol=True)
    sensitivity.set_defaults(handler=_sensitivity)


def _add_common(parser: argparse.ArgumentParser, protocol: bool) -> None:
    if protocol:
        add_protocol_argument(parser, default=None)
    parser.add_argument(
        "--out", type=Path, metavar="STEM", help="write STEM.png and STEM.svg (default: under RESULTS/plots/)"
    )
    add_results_argument(parser)


def _metrics(text: str) -> list[str]:
    metrics = parse_name_list(text)
    validate_metrics(metrics)
    return metrics


def _save(figure: object, stem: Path) -> int:
    from mmbench.report.figures import save_figure

    for path in save_figure(figure, stem):
        print(f"wrote {path}")
    return 0


def _ablation(args: argparse.Namespace) -> int:
    from mmbench.report.ablation_plot import ablation_figure

    metrics = _metrics(args.metrics)
    what = f"{args.model} on {args.dataset}"
    records = select.ablation_records(load_records(args.results, args.dataset), args.model, args.dataset)
    records = select.one_protocol(records, args.protocol, what)
    if not has_variants(records):
        raise ConfigError(
            f"no ablation variants of {what} under {args.results / 'runs'}; "
            f"run `mmbench ablate --model {args.model} --dataset {args.dataset}` first"
        )
    stem = args.out or select.ablation_stem(args.results, args.model, args.dataset, records[0].protocol)
    return _save(ablation_figure(records, metrics), stem)


def _sensitivity(args: argparse.Namespace) -> int:
    from mmbench.report.sensitivity_plot import sensitivity_figure

    metrics = _metrics(args.metrics)
    all_records = load_records(args.results, args.dataset)
    records = select.sweep_records(all_records, args.model, args.param, args.dataset)
    if not records:
        swept = sorted({p[0] for r in all_records if r.model == args.model and (p := sweep_point(r))})
        known = f"; swept params of {args.model}: {', '.join(swept)}" if swept else ""
        raise ConfigError(
            f"no sweep runs of {args.model} {args.param} on {args.dataset}{known}; run `mmbench sweep "
            f"--model {args.model} --param {args.param} --values a,b,c --dataset {args.dataset}` first"
        )
    records = select.one_protocol(records, args.protocol, f"the {args.model} {args.param} sweep on {args.dataset}")
    stem = args.out or select.sensitivity_stem(args.results, args.model, args.param, args.dataset, records[0].protocol)
    return _save(sensitivity_figure(records, args.param, metrics), stem)


def _curves(args: argparse.Namespace) -> int:
    from mmbench.report.curves_plot import curves_figure

    if bool(args.runs) == bool(args.models):
        raise ConfigError("plot curves needs either --runs DIR ... or --models M[,N] --dataset D")
    if args.runs:
        records = [_read_run(path) for path in args.runs]
    else:
        if not args.dataset:
            raise ConfigError("plot curves --models needs --dataset")
        wanted = parse_name_list(args.models)
        records = [
            r for r in load_records(args.results, args.dataset)
            if r.model in wanted and select.primary(r) and sweep_point(r) is None
        ]
        if args.seeds:
            seeds = set(parse_int_list(args.seeds, "--seeds"))
            records = [r for r in records if r.data.get("seed") in seeds]
        if not records:
            where = args.results / "runs"
            raise ConfigError(f"no completed runs of {', '.join(wanted)} on {args.dataset} under {where}")
    if len({r.dataset for r in records}) > 1:
        raise ConfigError("plot curves draws runs of one dataset at a time; these runs are on several")
    stem = args.out or select.curves_stem(args.results, records[0].dataset, [r.model for r in records])
    try:
        figure = curves_figure(records, args.metric)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return _save(figure, stem)


def _read_run(path: Path) -> RunRecord:
    """A run folder's record; a missing or unreadable ``run.json`` is a one-line error."""
    try:
        data = json.loads((path / RUN_FILE).read_text())
    except (OSError, ValueError):
        raise ConfigError(f"--runs {path}: no readable {RUN_FILE} in that folder") from None
    if not isinstance(data, dict) or not {"model", "dataset", "protocol"} <= set(data):
        raise ConfigError(f"--runs {path}: {RUN_FILE} is not a run record")
    return RunRecord(path, data)


def _tuning(args: argparse.Namespace) -> int:
    import optuna

    from mmbench.report.tuning_plot import tuning_figure
    from mmbench.tuning.storage import default_storage_url, open_storage, public_url

    url = args.storage or default_storage_url(args.results)
    storage = open_storage(url, create=False)
    try:
        study = optuna.load_study(study_name=args.study, storage=storage)
    except KeyError:
        names = ", ".join(s.study_name for s in optuna.get_all_study_summaries(storage)) or "none"
        raise ConfigError(f"no study {args.study!r} in {public_url(url)}; studies there: {names}") from None
    try:
        figure = tuning_figure(study)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return _save(figure, args.out or select.tuning_stem(args.results, args.study))
