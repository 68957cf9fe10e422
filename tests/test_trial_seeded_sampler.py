"""Seeded samplers draw per trial number: processes sharing a study never repeat each other."""

from __future__ import annotations

import optuna
import pytest

from mmbench.search_space import FloatParam, IntParam
from mmbench.tuning.study import make_sampler

SPACE = {"lr": FloatParam(1e-4, 1e-2, log=True), "n_layers": IntParam(1, 4)}


def suggest(trial: optuna.Trial) -> dict[str, float]:
    return {"lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True), "n_layers": trial.suggest_int("n_layers", 1, 4)}


def asked(study: optuna.Study) -> tuple[int, dict[str, float]]:
    trial = study.ask()
    return trial.number, suggest(trial)


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_two_processes_opening_a_study_together_draw_different_values(tmp_path, sampler: str) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="s", storage=storage, direction="maximize")
    # Two processes of one command: same seed, same study state when each opens it.
    first = optuna.load_study(study_name="s", storage=storage, sampler=make_sampler(sampler, SPACE, 0))
    second = optuna.load_study(study_name="s", storage=storage, sampler=make_sampler(sampler, SPACE, 0))
    draws = {}
    for study in (first, second, first, second):
        number, params = asked(study)
        study.tell(number, params["lr"])
        draws[number] = params
    assert len({tuple(sorted(params.items())) for params in draws.values()}) == 4

    # The same trial numbers draw the same values again in a fresh study with the same seed.
    optuna.create_study(study_name="again", storage=storage, direction="maximize")
    again = optuna.load_study(study_name="again", storage=storage, sampler=make_sampler(sampler, SPACE, 0))
    for number in range(4):
        got_number, params = asked(again)
        again.tell(got_number, params["lr"])
        assert (got_number, params) == (number, draws[number])
