"""The tuning plot of an Optuna study: optimisation history and hyperparameter importances.

Drawn with Matplotlib directly (Optuna's own plots need plotly or pyplot's global state). Left:
each complete trial's objective value and the best value so far. Right: PED-ANOVA importances of
the tuned hyperparameters (deterministic, and unlike Optuna's default fANOVA it needs no
scikit-learn), once the study holds as many complete trials as the median pruner waits for.
"""

from __future__ import annotations

import warnings
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mmbench.report.figures import LABEL_SIZE, TICK_SIZE, TITLE_SIZE, new_figure
from mmbench.tuning.study import COMPARABLE_TRIALS, SETUP_ATTR


def objective_label(study: Any) -> str:
    """What the objective measures: the validation metric that ``mmbench tune`` recorded, if any."""
    setup = study.user_attrs.get(SETUP_ATTR)
    if isinstance(setup, dict) and setup.get("metric"):
        return f"validation {setup['metric']} (0–1)"
    return "objective value"


def importances(study: Any) -> dict[str, float]:
    """PED-ANOVA importances (summing to 1) of the study's parameters.

    Empty when they cannot be had, or from fewer complete trials than
    :data:`~mmbench.tuning.study.COMPARABLE_TRIALS`: Optuna estimates them from as few as two,
    where they say only how the better trial's parameters differ from the other's, and returns
    equal importances that mean nothing from one.
    """
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < COMPARABLE_TRIALS:
        return {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            scores = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
            )
        except (ValueError, RuntimeError):
            return {}
    return {} if any("too small" in str(w.message) for w in caught) else scores


def tuning_figure(study: Any) -> Figure:
    """History and importances of a single-objective ``study``; ValueError without complete trials."""
    import optuna

    if len(study.directions) != 1:
        raise ValueError(f"study {study.study_name!r} has {len(study.directions)} objectives; only one is supported")
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not trials:
        raise ValueError(f"study {study.study_name!r} has no complete trial yet")
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    numbers = [t.number for t in trials]
    values = [t.value for t in trials]
    best, running = [], None
    for value in values:
        running = value if running is None else (max if maximize else min)(running, value)
        best.append(running)
    figure, (history_ax, importance_ax) = new_figure(12.0, 4.8, ncols=2)
    label = objective_label(study)
    history_ax.scatter(numbers, values, s=22, alpha=0.7, label="complete trial")
    history_ax.step(numbers, best, where="post", color="tab:red", linewidth=1.8, label="best so far")
    history_ax.set_xlabel("trial number", fontsize=LABEL_SIZE)
    history_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    history_ax.set_ylabel(label, fontsize=LABEL_SIZE)
    history_ax.set_title(f"optimisation history ({'maximise' if maximize else 'minimise'})", fontsize=TITLE_SIZE)
    history_ax.legend(fontsize=TICK_SIZE, loc="best")
    scores = importances(study)
    if scores:
        names = list(scores)[::-1]
        importance_ax.barh(names, [scores[name] for name in names], color="tab:green")
        importance_ax.set_xlabel("PED-ANOVA importance (normalised to sum to 1)", fontsize=LABEL_SIZE)
        importance_ax.set_ylabel("hyperparameter", fontsize=LABEL_SIZE)
        importance_ax.grid(False, axis="y")
    else:
        why = (f"too few complete trials\nto estimate importances\n(fewer than {COMPARABLE_TRIALS})"
               if len(trials) < COMPARABLE_TRIALS else "importances could not be\nestimated from these trials")
        importance_ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=LABEL_SIZE,
                           transform=importance_ax.transAxes)
        importance_ax.set_axis_off()
    importance_ax.set_title("hyperparameter importance", fontsize=TITLE_SIZE)
    figure.suptitle(f"Optuna study {study.study_name}: {len(trials)} complete of {len(study.trials)} trials",
                    fontsize=TITLE_SIZE + 1)
    return figure
