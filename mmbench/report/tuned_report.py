"""The tuned part of ``leaderboard_<dataset>.md``: the budget, the tuned table, tuned against
defaults, what tuning cost, and what survives tuning.

The budget and every model's search space come from ``RESULTS/tuned/budget-DATASET.json`` (written
by ``mmbench tune-all``), so the comparison's terms sit beside the table they produced; the tables,
times and accuracies come from the run records (:mod:`mmbench.report.tuning_comparison`,
:mod:`mmbench.report.cost`). Without a budget file the tuned rows are shown with a warning that
each was tuned on its own terms.
"""

from __future__ import annotations

from typing import Sequence

from tabulate import tabulate

from mmbench.records import RunRecord, is_tuned
from mmbench.report.cost import COST_METRIC, CostPoint, cost_points, cost_protocol, duration
from mmbench.report.leaderboard import metrics_for, render
from mmbench.report.significance import TEST_NAMES, PairedResult, format_p
from mmbench.report.tuning_comparison import Survival, survival, under_budget
from mmbench.tuning.budget import BudgetFile, ModelTuning
from mmbench.tuning.states import LABELS

TEST = "wilcoxon"
REPORTED_STATES = ("COMPLETE", "PRUNED", "INTERRUPTED", "FAIL")  # the trial states a budget table counts


def render_tuned_section(
    records: Sequence[RunRecord], budget: BudgetFile | None, budget_name: str,
    left_out: Sequence[RunRecord] = (),
) -> str:
    """The section for one dataset's ``records`` (sweeps left out; the tuned ones already chosen,
    see :func:`~mmbench.report.tuning_comparison.shown_records`), or "" when nothing is tuned.

    ``budget_name`` is the budget file's path as the reader finds it from the leaderboard;
    ``left_out`` are the tuned runs not shown, which a note counts.
    """
    tuned = [r for r in records if is_tuned(r)]
    if not tuned and budget is None:
        return ""
    parts = ["## Tuned: " + ("every model with one budget" if budget else "rows tuned one by one")]
    parts.append(_budget_text(budget, budget_name) if budget else _no_budget_text(budget_name))
    if budget:
        parts.append(_space_table(budget))
    notes = _notes(tuned, budget, left_out)
    if notes:
        parts.append(notes)
    if not tuned:
        return "\n\n".join(parts)
    metric = metrics_for(records)[0]
    parts.append(render(tuned, test=TEST))
    protocols = sorted({r.protocol for r in tuned})
    survivals = [survival(records, protocol, metric, TEST) for protocol in protocols]
    parts.append(_against_defaults(survivals, metric))
    protocol = cost_protocol(records)
    if protocol is not None:
        parts.append(_cost(records, budget, protocol))
    parts.append(_survives(survivals, metric))
    return "\n\n".join(parts)


def _budget_text(budget: BudgetFile, name: str) -> str:
    terms = budget.budget
    fixed = f"; fixed in every trial: {', '.join(terms.fixed)}" if terms.fixed else ""
    metrics = sorted({entry.metric for entry in budget.models.values()}) or ["recall@20"]
    return (
        f"Every model below was tuned by `mmbench tune-all` with the same budget, stated in "
        f"[`{name}`]({name}): {terms.trials} trials per model{_defaults_text(terms.defaults_trial)}; one "
        f"trial for a model whose search space is a single point; each trial at most {terms.epochs} epochs and "
        f"scored on validation "
        f"{', '.join(metrics)} only; pruner `{terms.pruner}`, sampler `{terms.sampler}` with seed "
        f"{terms.sampler_seed}, training seed {terms.seed} in every trial{fixed}. Each model's best "
        f"configuration was then trained once per seed and tested once per run. Studies: "
        f"`{budget.storage}`{_where(budget.storage)}."
    )


def _defaults_text(defaults_trial: bool) -> str:
    if not defaults_trial:
        return ", all drawn by the sampler"
    return (" drawn by the sampler, plus one trial of the model's own defaults that the pruner never stops "
            "(so no tuned row rests on a configuration its defaults beat on validation under the same terms)")


def _where(storage: str) -> str:
    """What a storage label's ``RESULTS`` stands for, where it has one."""
    from mmbench.tuning.storage import RESULTS_MARK

    return f" ({RESULTS_MARK} is this results folder)" if f"{RESULTS_MARK}/" in storage else ""


def _no_budget_text(name: str) -> str:
    return (
        f"No `mmbench tune-all` budget for this dataset ({name} is missing): each tuned row was tuned "
        "on its own with `mmbench tune`, under its own trials and epochs, so the tuned rows do not "
        "compare as equals."
    )


def _space_table(budget: BudgetFile) -> str:
    rows = [[name, _trials_text(entry), _space_text(entry)] for name, entry in sorted(budget.models.items())]
    heading = "Search spaces, as each model declares them (less the keys the budget fixes):"
    return heading + "\n\n" + tabulate(rows, headers=["model", "trials", "search space"], tablefmt="github",
                                       disable_numparse=True)


def _finished(entry: ModelTuning) -> int:
    """Trials of the model's study that count towards the budget (complete or pruned)."""
    return entry.states.get("COMPLETE", 0) + entry.states.get("PRUNED", 0)


def _trials_text(entry: ModelTuning) -> str:
    states = ", ".join(f"{entry.states[state]} {LABELS[state]}" for state in REPORTED_STATES if entry.states.get(state))
    finished = _finished(entry)
    shown = f"{entry.trials} ({states})" if states else f"{entry.trials} (not run yet)"
    best = "; best: the defaults" if entry.best_is_defaults else ""
    return shown + best + (" **unfinished**" if entry.states and finished < entry.trials else "")


def _space_text(entry: ModelTuning) -> str:
    ranges = "; ".join(f"{key} in {value}" for key, value in sorted(entry.space.items()))
    if not entry.space:
        return "empty: the model's defaults, one trial"
    return f"single point ({ranges}), one trial" if entry.single_point else ranges


def _notes(tuned: Sequence[RunRecord], budget: BudgetFile | None, left_out: Sequence[RunRecord]) -> str:
    if budget is None:
        return ""
    notes = []
    outside = sorted({r.model for r in left_out if not under_budget(r, budget)})
    if outside:
        notes.append(
            f"Not shown: the tuned runs of {', '.join(outside)} made outside this budget (by `mmbench tune` "
            "alone, or in another storage); `mmbench leaderboard --ignore-budget` lists them, in one "
            "row with the budget's."
        )
    earlier = [r for r in left_out if under_budget(r, budget)]
    if earlier:
        notes.append(f"Not shown: {len(earlier)} tuned run record(s) of an earlier best trial, trained before "
                     "the study grew.")
    untrained = sorted(set(budget.models) - {r.model for r in tuned})
    tuned_only = [name for name in untrained if _finished(budget.models[name]) >= budget.models[name].trials]
    tuning = [name for name in untrained if name not in tuned_only]
    if tuned_only:
        notes.append(f"Tuned under the budget but not trained yet: {', '.join(tuned_only)} (re-run `mmbench tune-all`).")
    if tuning:
        notes.append(f"Not tuned to the budget yet: {', '.join(tuning)} (re-run `mmbench tune-all`; the trials "
                     "each has so far are in the table above).")
    return " ".join(notes)


def _against_defaults(survivals: Sequence[Survival], metric: str) -> str:
    rows = []
    for found in survivals:
        for pair in found.pairs:
            tuned = pair.tuned.means[metric]
            default = pair.default.means[metric] if pair.default else None
            rows.append([
                f"`{found.protocol}`", pair.model, pair.default.value_text(metric) if pair.default else "—",
                pair.tuned.value_text(metric), "—" if default is None else f"{tuned - default:+.4f}",
                _p(pair.p_value) if pair.default else "—",
            ])
    headers = ["protocol", "model", f"{metric}, defaults", f"{metric}, tuned", "change", "p (tuned vs defaults)"]
    table = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    return (
        f"### Tuned against defaults\n\n{table}\n\np: two-sided {TEST_NAMES[TEST]} of each model's tuned "
        f"row against its default row on {metric}, paired by test user as in the tables above. "
        "—: the model has no default row."
    )


def _cost(records: Sequence[RunRecord], budget: BudgetFile | None, protocol: str) -> str:
    points: dict[tuple[str, bool], CostPoint] = {(p.model, p.tuned): p for p in cost_points(records, protocol)}
    entries = budget.models if budget else {}
    models = sorted({model for model, tuned in points if tuned})
    rows = []
    for model in models:
        default, tuned = points.get((model, False)), points[(model, True)]
        entry = entries.get(model)
        rows.append([
            model,
            _trials_text(entry) if entry else "—",
            duration(entry.tuning_seconds) if entry and entry.tuning_seconds is not None else "—",
            duration(default.seconds) if default else "—", duration(tuned.seconds),
            f"{default.value:.4f}" if default else "—", f"{tuned.value:.4f}",
        ])
    headers = ["model", "trials", "tuning time", "one run, defaults", "one run, tuned", f"{COST_METRIC}, defaults",
               f"{COST_METRIC}, tuned"]
    table = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    return (
        f"### What tuning cost (protocol `{protocol}`)\n\n{table}\n\nTuning time: the durations of the "
        "study's trials summed (worker time: with several workers the wall-clock time was shorter), "
        f"from the budget file. One run: training and evaluation; it and {COST_METRIC} are means over "
        "seeds, from the run records, as in the cost figure under *Training cost*. Times are "
        "wall-clock on the machine that ran them."
    )


def _survives(survivals: Sequence[Survival], metric: str) -> str:
    parts = ["### What survives tuning"]
    for found in survivals:
        both = [p for p in found.pairs if p.default is not None]
        if len(both) < 2:
            parts.append(f"Protocol `{found.protocol}`: fewer than two models have both a default and a tuned row.")
            continue
        same = "the same model" if found.best_default == found.best_tuned else "a different model"
        text = (
            f"Protocol `{found.protocol}`, over the {len(both)} models with a default and a tuned row, by "
            f"{metric}: best on defaults **{found.best_default}**, best tuned **{found.best_tuned}** ({same})."
        )
        if not found.changes:
            parts.append(text + " No pair of models changes order.")
            continue
        rows = [
            [f"{c.ahead} > {c.behind}", f"{c.default[0]:.4f} > {c.default[1]:.4f}",
             f"{c.tuned[0]:.4f} < {c.tuned[1]:.4f}", _p(c.p_default), _p(c.p_tuned)]
            for c in found.changes
        ]
        headers = ["order on defaults", "defaults", "tuned", "p (default rows)", "p (tuned rows)"]
        parts.append(
            text + f" {len(found.changes)} pair(s) change order:\n\n"
            + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
        )
    if any(found.changes for found in survivals):
        parts.append(
            f"p: two-sided {TEST_NAMES[TEST]} between the two models' rows on {metric}, paired by test "
            "user as in the tables above. Not adjusted for multiple comparisons."
        )
    return "\n\n".join(parts)


def _p(result: PairedResult | None) -> str:
    return "n/a" if result is None else format_p(result.p_value)
