"""``tune-all`` in one process: every model gets the same budget, a killed command resumes to the
same studies, a single-point space gets one trial, and mistakes are refused before any work.

The fake models have known validation curves: after epoch ``e`` they rank the validation item of
the first ``round(curve(e) * n_users)`` users first and every other user's last, so validation
recall@20 is exactly that share (the tiny dataset has one validation item per user).
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import optuna
import pytest
import torch
from torch import nn

from mmbench.config import TrainConfig
from mmbench.data.loading import load_dataset
from mmbench.errors import ConfigError
from mmbench.models.base import BprBatch, RecModel
from mmbench.models.registry import ModelRegistry
from mmbench.records import load_records
from mmbench.search_space import Categorical, FloatParam, IntParam
from mmbench.tuning.budget import TuningBudget, budget_path, read_budget, write_budget
from mmbench.tuning.params import read_params
from mmbench.tuning.storage import default_storage_url
from mmbench.tuning.tune import TuneRequest, tune_model
from mmbench.tuning.tune_all import TuneAllRequest, tune_models
from synthetic import interaction_rows, tiny_dataset

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

EPOCHS = 4
TRIALS = 3


@dataclass(frozen=True)
class CurveConfig(TrainConfig):
    rate: float = 0.1
    peak: int = 2


class Rising(RecModel):
    """Validation recall@20 = min(1, rate * epoch): it rises at every epoch of the cap."""

    config_class = CurveConfig
    search_space = {"rate": FloatParam(0.05, 0.2)}
    valid_items: ClassVar[np.ndarray] = np.zeros(0, dtype=np.int64)  # each user's validation item

    def __init__(self, view, config: CurveConfig) -> None:
        super().__init__(view, config)
        self.weight = nn.Parameter(torch.zeros(1))
        self.epoch = 0

    @staticmethod
    def curve(config: CurveConfig, epoch: int) -> float:
        return min(1.0, config.rate * epoch)

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        return {"loss": (self.weight**2).sum() + 0.0 * batch.users.sum()}

    def score(self, users: torch.Tensor) -> torch.Tensor:
        hits = round(self.curve(self.config, self.epoch) * self.n_users)
        scores = torch.zeros(len(users), self.n_items)
        targets = torch.as_tensor(self.valid_items[users.numpy()])
        scores[torch.arange(len(users)), targets] = torch.where(users < hits, 1.0, -1.0)
        return scores


class Peaked(Rising):
    """Validation recall@20 peaks at epoch ``peak`` and falls after it: early stopping ends it."""

    search_space = {"peak": IntParam(1, 3)}

    @staticmethod
    def curve(config: CurveConfig, epoch: int) -> float:
        return max(0.0, 0.8 - 0.2 * abs(epoch - config.peak))


class Point(Rising):
    """A search space of one point."""

    search_space = {"rate": Categorical((0.15,))}


class Interrupted(Peaked):
    """Peaked, whose second trial (the ``interrupt_at``-th model built) is stopped by Ctrl-C in its
    first batch."""

    built: ClassVar[int] = 0
    interrupt_at: ClassVar[int] = 2

    def __init__(self, view, config: CurveConfig) -> None:
        super().__init__(view, config)
        type(self).built += 1
        self.interrupt = type(self).built == self.interrupt_at

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        if self.interrupt:
            raise KeyboardInterrupt
        return super().loss(batch)


def registry(**models: type[RecModel]) -> ModelRegistry:
    found = ModelRegistry()
    for name, cls in models.items():
        found.add(cls, name)
    return found


def expected_curve(model: type[Rising], config: CurveConfig, epochs: int, n_users: int) -> dict[int, float]:
    """What each trial reports after each epoch: the best validation recall@20 so far."""
    best, reported = 0.0, {}
    for epoch in range(1, epochs + 1):
        best = max(best, round(model.curve(config, epoch) * n_users) / n_users)
        reported[epoch] = best
    return reported


@pytest.fixture
def folder(tmp_path, write_mmrec) -> Path:
    """The tiny dataset as an MMRec folder ``tiny``; the fake models learn its validation items."""
    path = write_mmrec(tmp_path, "tiny", rows=interaction_rows(tiny_dataset()))
    valid = load_dataset(path, warn=False).valid
    Rising.valid_items = np.array([valid.indices[valid.indptr[u]] for u in range(valid.shape[0])])
    return path


def request(folder: Path, results: Path, *models: str, **budget) -> TuneAllRequest:
    terms = {"trials": TRIALS, "epochs": EPOCHS, "pruner": "none", "fixed": ("patience=1", "batch_size=64"), **budget}
    return TuneAllRequest(
        models=models, dataset=str(folder), results=results, budget=TuningBudget(**terms), seeds=(1, 2),
        device="cpu", threads=1,
    )


def study(results: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=default_storage_url(results))


def test_every_model_gets_the_same_trials_and_epoch_cap(folder, tmp_path, one_thread):
    results = tmp_path / "results"
    lines: list[str] = []
    found = registry(rising=Rising, peaked=Peaked, point=Point)
    outcome = tune_models(request(folder, results, "rising", "peaked", "point"), found, echo=lines.append)
    assert outcome.status == 0
    n_users = len(Rising.valid_items)
    for name, model in (("rising", Rising), ("peaked", Peaked)):
        trials = study(results, f"{name}-tiny").trials
        assert [t.state.name for t in trials] == ["COMPLETE"] * TRIALS
        assert study(results, f"{name}-tiny").user_attrs["mmbench"]["fixed"]["epochs"] == EPOCHS
        for trial in trials:
            config = CurveConfig(**trial.params)
            epochs_run = trial.user_attrs["epochs_run"]
            assert epochs_run <= EPOCHS
            assert trial.intermediate_values == pytest.approx(expected_curve(model, config, epochs_run, n_users))
            if model is Rising:
                assert epochs_run == EPOCHS  # rising at every epoch: only the cap stops it
            else:
                assert epochs_run == min(EPOCHS, config.peak + 1)  # patience 1 stops it after the peak
    point = study(results, "point-tiny").trials
    assert len(point) == 1 and point[0].params == {"rate": 0.15}
    assert "the search space of point is a single point: one trial, not 3" in lines

    budget = read_budget(budget_path(results, "tiny"))
    assert budget.budget == TuningBudget(TRIALS, EPOCHS, "none", "tpe", 0, 1, ("patience=1", "batch_size=64"))
    assert {name: (m.trials, m.single_point) for name, m in budget.models.items()} == {
        "rising": (TRIALS, False), "peaked": (TRIALS, False), "point": (1, True),
    }
    assert budget.models["peaked"].space == {"peak": "[1, 3]"} and budget.models["point"].space == {"rate": "{0.15}"}
    assert budget.models["rising"].states == {"COMPLETE": TRIALS} and budget.models["rising"].tuning_seconds > 0

    records = load_records(results)
    assert len(records) == len(outcome.records) == 3 * 2  # 3 models x 2 seeds, one protocol
    for record in records:
        best = study(results, f"{record.model}-tiny").best_trial
        params_file = results / "tuned" / f"{record.model}-tiny.json"
        assert record.data["tuned"]["trial"] == best.number and record.data["tuned"]["params_file"] == str(params_file)
        assert record.data["config"]["epochs"] == EPOCHS and record.data["config"]["patience"] == 1
        assert {key: record.data["config"][key] for key in best.params} == best.params
        assert json.loads(params_file.read_text())["fixed"] == {"epochs": EPOCHS, "patience": 1, "batch_size": 64}


def test_an_interrupted_tune_all_resumes_the_same_studies(folder, tmp_path, one_thread):
    results = tmp_path / "results"
    Interrupted.built = 0
    stopped = tune_models(request(folder, results, "rising", "peaked"), registry(rising=Rising, peaked=Interrupted),
                          echo=lambda line: None)
    assert stopped.status == 130 and stopped.records == []
    assert load_records(results) == []
    first = {name: study(results, f"{name}-tiny") for name in ("rising", "peaked")}
    assert [t.state.name for t in first["rising"].trials] == ["COMPLETE"] * TRIALS
    assert [t.state.name for t in first["peaked"].trials] == ["COMPLETE", "FAIL"]
    before = {name: [(t.number, t.datetime_start) for t in s.trials] for name, s in first.items()}
    assert read_budget(budget_path(results, "tiny")).models["peaked"].states == {"COMPLETE": 1, "INTERRUPTED": 1}

    lines: list[str] = []
    found = registry(rising=Rising, peaked=Peaked)
    resumed = tune_models(request(folder, results, "rising", "peaked"), found, echo=lines.append)
    assert resumed.status == 0
    assert f"study rising-tiny already holds {TRIALS} finished trials of {TRIALS}: nothing to run" in lines
    again = {name: study(results, f"{name}-tiny") for name in ("rising", "peaked")}
    assert {name: s._study_id for name, s in again.items()} == {name: s._study_id for name, s in first.items()}
    assert [(t.number, t.datetime_start) for t in again["rising"].trials] == before["rising"]
    peaked = again["peaked"].trials
    assert [(t.number, t.datetime_start) for t in peaked[:2]] == before["peaked"]
    assert [t.state.name for t in peaked] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert len(resumed.records) == 4

    # once more: every study holds its budget and every training is finished, so nothing runs
    third = tune_models(request(folder, results, "rising", "peaked"), found, echo=lambda line: None)
    assert sorted(r.path for r in third.records) == sorted(r.path for r in resumed.records)
    assert len(study(results, "peaked-tiny").trials) == 4 and len(load_records(results)) == 4


def test_a_results_folder_moved_elsewhere_resumes_its_budget(folder, tmp_path, one_thread):
    """The budget file and the records name the default storage relative to the results folder,
    so a cloned or moved results folder continues under the same budget instead of being refused."""
    first = tmp_path / "first" / "results"
    assert tune_models(request(folder, first, "rising"), registry(rising=Rising), echo=lambda line: None).status == 0
    moved = tmp_path / "clone" / "results"
    shutil.copytree(first, moved)
    shutil.rmtree(first)
    lines: list[str] = []
    again = tune_models(request(folder, moved, "rising"), registry(rising=Rising), echo=lines.append)
    assert again.status == 0
    assert f"study rising-tiny already holds {TRIALS} finished trials of {TRIALS}: nothing to run" in lines
    budget = read_budget(budget_path(moved, "tiny"))
    assert budget.storage == "sqlite:///RESULTS/tuning.db"
    assert {record.data["tuned"]["storage"] for record in load_records(moved)} == {budget.storage}


def test_a_study_in_another_storage_file_keeps_its_own_parameters_file(folder, tmp_path, one_thread):
    """A study named like one in ``tuning.db`` but kept in ``tuning-other.db`` writes its best
    parameters to ``tuned/tuning-other/``: the first study's file, which its runs name, stays."""
    results = tmp_path / "results"
    assert tune_models(request(folder, results, "rising"), registry(rising=Rising), echo=lambda line: None).status == 0
    first = results / "tuned" / "rising-tiny.json"
    before = first.read_text()
    (results / "tuned" / "budget-tiny.json").unlink()  # one budget per dataset: the first study was made alone
    other = replace(request(folder, results, "rising"), storage=f"sqlite:///{results / 'tuning-other.db'}", seeds=(3,))
    assert tune_models(other, registry(rising=Rising), echo=lambda line: None).status == 0
    assert first.read_text() == before
    second = results / "tuned" / "tuning-other" / "rising-tiny.json"
    assert read_params(second).storage == "sqlite:///RESULTS/tuning-other.db"
    named = {record.data["seed"]: record.data["tuned"]["params_file"] for record in load_records(results)}
    assert named == {1: str(first), 2: str(first), 3: str(second)}


def test_a_study_made_under_other_terms_is_refused_before_any_work(folder, tmp_path, one_thread):
    results, other = tmp_path / "results", tmp_path / "other"
    found = registry(rising=Rising, peaked=Peaked)

    def quiet(line: str) -> None:
        pass

    def refused(asked: TuneAllRequest, message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            tune_models(asked, found, echo=quiet)

    assert tune_models(request(folder, results, "rising", trials=2), found, echo=quiet).status == 0
    runs = sorted(record.path for record in load_records(results))
    refused(request(folder, results, "rising", "peaked", trials=2, epochs=3),
            r"states another budget for tiny \(epochs 4, not 3\)")
    refused(request(folder, results, "rising", "peaked", trials=1),
            r"states a larger budget for tiny \(2 trials per model\); give --trials 2 or more")
    shared = replace(request(folder, other, "rising", trials=1), storage=default_storage_url(results))
    refused(shared, "study 'rising-tiny' holds 2 finished trials, more than the 1 of this budget")
    alone = tmp_path / "alone"
    tune_model(TuneRequest("peaked", str(folder), alone, trials=1, epochs=EPOCHS, device="cpu",
                           assignments=("patience=1", "batch_size=64")), found, echo=quiet)
    refused(replace(request(folder, other, "peaked"), storage=default_storage_url(alone)),
            "study 'peaked-tiny' holds 1 trials made outside `mmbench tune-all`")
    assert sorted(record.path for record in load_records(results)) == runs
    assert [s.study_name for s in optuna.get_all_study_summaries(default_storage_url(results))] == ["rising-tiny"]
    assert not other.exists()


TUNE_ALL = ("tune-all", "--trials", "2", "--epochs", "2", "--seeds", "1", "--threads", "1", "--device", "cpu")


def test_tune_all_through_the_command_line(run_main, folder, tmp_path, one_thread):
    results = tmp_path / "results"
    ran = run_main(*TUNE_ALL, "--models", "mf_bpr,lightgcn", "--dataset", str(folder), "--results", str(results))
    assert ran.returncode == 0, ran.stderr
    assert "[1/2] tuning mf_bpr on tiny: study mf_bpr-tiny" in ran.stdout
    assert f"budget and search spaces -> {results / 'tuned' / 'budget-tiny.json'}" in ran.stdout
    assert "| mf_bpr (tuned)" in ran.stdout and "| lightgcn (tuned)" in ran.stdout
    for name in ("mf_bpr-tiny", "lightgcn-tiny"):
        trials = study(results, name).trials
        assert len(trials) == 3 and (results / "tuned" / f"{name}.json").is_file()  # 2 drawn + the defaults
        assert [t.user_attrs.get("defaults", False) for t in trials] == [True, False, False]
    assert "trial 0 (the model's defaults) started" in ran.stdout
    assert all(record.data.get("tuned") for record in load_records(results))
    assert read_budget(budget_path(results, "tiny")).budget.defaults_trial


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--models", "mf_bpr,nope"), "unknown model 'nope'"),
        (("--models", ""), "no model named"),
        (("--models", "mf_bpr,mf_bpr"), "--models names a model twice"),
        (("--trials", "0"), "--trials must be at least 1"),
        (("--epochs", "0"), "--epochs must be at least 1"),
        (("--workers", "0"), "--workers must be at least 1"),
        (("--set", "colour=red"), "unknown config key 'colour'"),
        (("--sampler", "grid"), "--sampler grid cannot enumerate"),
        (("--seeds", "x"), "--seeds expects comma-separated integers"),
        (("--protocol", "nope"), "unknown evaluation protocol 'nope'"),
        (("--dataset", "nowhere"), "nowhere"),
    ],
)
def test_bad_input_is_one_line_error_before_any_work(run_main, folder, tmp_path, extra, message):
    results = tmp_path / "results"
    result = run_main(*TUNE_ALL, "--models", "mf_bpr", "--dataset", str(folder), "--results", str(results), *extra)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not results.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_gpus_without_cuda_is_refused_before_any_work(run_main, folder, tmp_path):
    results = tmp_path / "results"
    result = run_main(*TUNE_ALL, "--models", "mf_bpr", "--dataset", str(folder), "--results", str(results), "--gpus", "0")
    assert result.returncode == 2 and "--gpus needs CUDA" in result.stderr and not results.exists()


def test_a_timeout_leaves_a_study_short_and_says_so(folder, tmp_path, one_thread):
    results, lines = tmp_path / "results", []
    asked = replace(request(folder, results, "rising"), timeout=0.0)
    outcome = tune_models(asked, registry(rising=Rising), echo=lines.append)
    assert outcome.status == 0 and outcome.records == []
    assert "rising: study rising-tiny has no complete trial: not trained" in lines
    entry = read_budget(budget_path(results, "tiny")).models["rising"]
    assert entry.trials == TRIALS and entry.states == {}


class Capped(Rising):
    """Rising, whose default rate (0.1) is the top of its space: no drawn trial beats the defaults."""

    search_space = {"rate": FloatParam(0.02, 0.1)}


class Outside(Rising):
    """Rising, whose default rate (0.1) lies outside its space."""

    search_space = {"rate": FloatParam(0.15, 0.2)}


class FailsFirst(Interrupted):
    """Peaked, whose first trial is stopped by Ctrl-C in its first batch."""

    interrupt_at: ClassVar[int] = 1


def defaults_trials(results: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study(results, name).trials if t.user_attrs.get("defaults")]


def test_the_defaults_trial_trains_each_models_defaults_once_besides_the_drawn_trials(folder, tmp_path, one_thread):
    results, lines = tmp_path / "results", []
    found = registry(capped=Capped, peaked=Peaked, point=Point)
    outcome = tune_models(request(folder, results, "capped", "peaked", "point", defaults_trial=True), found,
                          echo=lines.append)
    assert outcome.status == 0
    for name, params in (("capped", {"rate": 0.1}), ("peaked", {"peak": 2})):
        trials = study(results, f"{name}-tiny").trials
        assert [t.state.name for t in trials] == ["COMPLETE"] * (TRIALS + 1)
        assert [t.number for t in defaults_trials(results, f"{name}-tiny")] == [0]
        assert trials[0].params == params
    assert all(t.params["rate"] < 0.1 for t in study(results, "capped-tiny").trials[1:])
    assert len(study(results, "point-tiny").trials) == 1 and defaults_trials(results, "point-tiny") == []
    assert "queued the defaults trial of capped: rate=0.1" in lines
    assert "trial 0 (the model's defaults) started" in lines

    budget = read_budget(budget_path(results, "tiny"))
    assert budget.budget.defaults_trial
    assert {name: m.trials for name, m in budget.models.items()} == {"capped": TRIALS + 1, "peaked": TRIALS + 1, "point": 1}
    assert budget.models["capped"].best_trial == 0 and budget.models["capped"].best_is_defaults
    capped = [r for r in load_records(results) if r.model == "capped"]
    assert capped and all(r.data["tuned"]["trial"] == 0 and r.data["config"]["rate"] == 0.1 for r in capped)


def test_a_budget_may_gain_the_defaults_trial_but_not_lose_it(folder, tmp_path, one_thread):
    results = tmp_path / "results"
    found = registry(rising=Rising)
    assert tune_models(request(folder, results, "rising"), found, echo=lambda line: None).status == 0
    drawn = [(t.number, t.params) for t in study(results, "rising-tiny").trials]
    assert len(drawn) == TRIALS and defaults_trials(results, "rising-tiny") == []

    assert tune_models(request(folder, results, "rising", defaults_trial=True), found, echo=lambda line: None).status == 0
    trials = study(results, "rising-tiny").trials
    assert [(t.number, t.params) for t in trials[:TRIALS]] == drawn
    assert [(t.number, t.params) for t in defaults_trials(results, "rising-tiny")] == [(TRIALS, {"rate": 0.1})]
    assert read_budget(budget_path(results, "tiny")).models["rising"].trials == TRIALS + 1

    with pytest.raises(ConfigError, match=r"states a larger budget for tiny \(3 trials and the defaults trial per "
                                          r"model\); give --defaults-trial"):
        tune_models(request(folder, results, "rising"), found, echo=lambda line: None)


class LateBloomer(Rising):
    """Rising, except at its default rate (0.1): nothing until the last of 8 epochs, then 1.0, above
    every drawn trial. A pruner that judges trials by their first epochs would stop it."""

    search_space = {"rate": FloatParam(0.1, 0.12)}

    @staticmethod
    def curve(config: CurveConfig, epoch: int) -> float:
        if config.rate > 0.1:
            return config.rate * epoch
        return 1.0 if epoch >= 8 else 0.0


def test_the_pruner_never_stops_the_defaults_trial(folder, tmp_path, one_thread):
    results, found = tmp_path / "results", registry(late=LateBloomer)
    terms = {"trials": 6, "epochs": 8, "pruner": "median", "fixed": ("patience=10", "batch_size=64")}
    assert tune_models(request(folder, results, "late", **terms), found, echo=lambda line: None).status == 0
    assert tune_models(request(folder, results, "late", defaults_trial=True, **terms), found,
                       echo=lambda line: None).status == 0
    (defaults,) = defaults_trials(results, "late-tiny")
    assert defaults.number == 6 and defaults.state.name == "COMPLETE" and max(defaults.intermediate_values) == 8
    assert defaults.value == 1.0 and study(results, "late-tiny").best_trial.number == 6


def test_an_interrupted_defaults_trial_is_queued_again(folder, tmp_path, one_thread):
    results = tmp_path / "results"
    FailsFirst.built = 0
    asked = request(folder, results, "peaked", defaults_trial=True)
    stopped = tune_models(asked, registry(peaked=FailsFirst), echo=lambda line: None)
    assert stopped.status == 130
    assert [t.state.name for t in defaults_trials(results, "peaked-tiny")] == ["FAIL"]
    assert tune_models(asked, registry(peaked=FailsFirst), echo=lambda line: None).status == 0
    again = defaults_trials(results, "peaked-tiny")
    assert [(t.number, t.state.name, t.params) for t in again] == [(0, "FAIL", {"peak": 2}), (1, "COMPLETE", {"peak": 2})]
    finished = [t for t in study(results, "peaked-tiny").trials if t.state.name == "COMPLETE"]
    assert len(finished) == TRIALS + 1


def test_a_default_outside_the_space_is_refused_before_any_work(folder, tmp_path, one_thread):
    results = tmp_path / "results"
    with pytest.raises(ConfigError, match=r"outside: its default rate=0.1 lies outside its search space; widen "):
        tune_models(request(folder, results, "outside", defaults_trial=True), registry(outside=Outside),
                    echo=lambda line: None)
    assert not results.exists()


@pytest.mark.parametrize("dataset", ["tiktok", "lfm2k", "baby"])
def test_every_registered_models_defaults_lie_in_its_search_space(dataset):
    """What the defaults trial of ``tune-all`` needs of every model, on every shipped dataset."""
    from mmbench.models.registry import default_registry
    from mmbench.tuning.defaults_trial import defaults_params

    found = default_registry()
    for name in found.names():
        model = found.get(name)
        params = defaults_params(model.config_for(dataset, {}), model.search_space, name)
        assert set(params) == set(model.search_space)


def test_a_tune_all_of_other_models_keeps_the_lines_another_one_wrote_meanwhile(folder, tmp_path, one_thread):
    """Two tune-all commands of disjoint models on one results folder each write the budget file:
    the one that finishes a study last must not put back the other's older lines."""
    results = tmp_path / "results"
    found = registry(rising=Rising, peaked=Peaked)
    assert tune_models(request(folder, results, "rising"), found, echo=lambda line: None).status == 0
    path = budget_path(results, "tiny")

    def meanwhile(line: str) -> None:
        if line.startswith("[1/1] tuning peaked"):  # the other command finishes its study now
            document = read_budget(path)
            document.models["rising"] = replace(document.models["rising"], tuning_seconds=123.0)
            write_budget(path, document)

    assert tune_models(request(folder, results, "peaked"), found, echo=meanwhile).status == 0
    written = read_budget(path)
    assert written.models["rising"].tuning_seconds == 123.0
    assert written.models["peaked"].states == {"COMPLETE": TRIALS}


class StoppedMidway(Rising):
    """Rising, whose ``interrupt_at``-th model built is stopped by Ctrl-C as its third epoch starts,
    after two evaluations (and their checkpoints); every model notes the epochs it starts."""

    built: ClassVar[int] = 0
    interrupt_at: ClassVar[int] = 2
    started: ClassVar[list[tuple[int, int]]] = []  # (model built, epoch)

    def __init__(self, view, config: CurveConfig) -> None:
        super().__init__(view, config)
        type(self).built += 1
        self.index = type(self).built

    def on_epoch_start(self, epoch: int) -> None:
        if self.index == self.interrupt_at and epoch == 3:
            raise KeyboardInterrupt
        type(self).started.append((self.index, epoch))
        super().on_epoch_start(epoch)


def checkpoint_folders(results: Path, name: str) -> list[str]:
    root = results / "tuning-checkpoints" / name
    return sorted(path.name for path in root.iterdir()) if root.exists() else []


def test_a_trial_stopped_midway_resumes_from_its_checkpoint(folder, tmp_path, one_thread):
    results, found = tmp_path / "results", registry(rising=StoppedMidway)
    StoppedMidway.built, StoppedMidway.started = 0, []
    asked = request(folder, results, "rising", fixed=("patience=10", "batch_size=64"))
    assert tune_models(asked, found, echo=lambda line: None).status == 130
    stopped = study(results, "rising-tiny").trials[1]
    assert stopped.state.name == "FAIL" and sorted(stopped.intermediate_values) == [1, 2]
    assert checkpoint_folders(results, "rising-tiny") == ["trial-1"]  # the complete trial 0 left none

    StoppedMidway.started = []
    lines: list[str] = []
    assert tune_models(asked, found, echo=lines.append).status == 0
    trials = study(results, "rising-tiny").trials
    assert [(t.number, t.state.name) for t in trials] == [(0, "COMPLETE"), (1, "FAIL"), (2, "COMPLETE"), (3, "COMPLETE")]
    resumed = trials[2]
    assert resumed.user_attrs["resumes"] == 1 and resumed.params == stopped.params
    assert resumed.user_attrs["resumed_after_epoch"] == 2
    assert StoppedMidway.started[:2] == [(3, 3), (3, 4)]  # the resumed trial trains epochs 3 and 4 only
    n_users = len(Rising.valid_items)
    assert resumed.intermediate_values == pytest.approx(
        expected_curve(Rising, CurveConfig(**stopped.params), EPOCHS, n_users)
    )
    assert resumed.user_attrs["epochs_run"] == EPOCHS and resumed.value == pytest.approx(resumed.intermediate_values[EPOCHS])
    assert "queued trial 1 again: it resumes from its checkpoint" in lines
    assert any(line.startswith("trial 2 (resumes trial 1) complete") for line in lines)
    assert checkpoint_folders(results, "rising-tiny") == []


def test_a_stopped_defaults_trial_resumes_as_the_defaults_trial(folder, tmp_path, one_thread):
    results, found = tmp_path / "results", registry(rising=StoppedMidway)
    StoppedMidway.built, StoppedMidway.interrupt_at = 0, 1
    try:
        asked = request(folder, results, "rising", defaults_trial=True, fixed=("patience=10", "batch_size=64"))
        assert tune_models(asked, found, echo=lambda line: None).status == 130
        assert tune_models(asked, found, echo=lambda line: None).status == 0
    finally:
        StoppedMidway.interrupt_at = 2
    defaults = [(t.number, t.state.name, t.user_attrs.get("resumes")) for t in defaults_trials(results, "rising-tiny")]
    assert defaults == [(0, "FAIL", None), (1, "COMPLETE", 0)]
    assert len(study(results, "rising-tiny").trials) == TRIALS + 2


def test_a_new_trial_ignores_a_checkpoint_left_by_a_deleted_study(folder, tmp_path, one_thread):
    """Trial 1 of a new study finds a folder of a deleted study's trial 1 and is stopped before its
    first evaluation: the next run must not resume it from that stranger's checkpoint."""
    results, found = tmp_path / "results", registry(peaked=Interrupted)
    stale = results / "tuning-checkpoints" / "peaked-tiny" / "trial-1"
    stale.mkdir(parents=True)
    (stale / "checkpoint.pt").write_bytes(b"not this study's checkpoint")
    Interrupted.built = 0
    assert tune_models(request(folder, results, "peaked"), found, echo=lambda line: None).status == 130
    assert not (stale / "checkpoint.pt").exists()
    assert tune_models(request(folder, results, "peaked"), found, echo=lambda line: None).status == 0
    trials = study(results, "peaked-tiny").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert not any("resumes" in t.user_attrs for t in trials)


def test_a_resumed_trial_of_a_real_model_ends_where_the_uninterrupted_one_does(folder, tmp_path, one_thread,
                                                                              monkeypatch):
    """MF-BPR's trial 0 trained straight through, and stopped by Ctrl-C as its third epoch starts then
    resumed: the same validation curve and value, to the last bit (the checkpoint restores the
    model, the optimiser and every random-generator state)."""
    from baselines.mf_bpr import MFBPR
    from mmbench.training.trainer import Trainer

    found = registry(mf_bpr=MFBPR)
    terms = {"trials": 1, "epochs": 5, "fixed": ("patience=10", "batch_size=64")}
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert tune_models(request(folder, straight, "mf_bpr", **terms), found, echo=lambda line: None).status == 0

    train_epoch, stops = Trainer._train_epoch, []

    def stop_once_at_the_third_epoch(self, epoch):
        if epoch == 3 and not stops:
            stops.append(epoch)
            raise KeyboardInterrupt
        return train_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "_train_epoch", stop_once_at_the_third_epoch)
    assert tune_models(request(folder, stopped, "mf_bpr", **terms), found, echo=lambda line: None).status == 130
    assert tune_models(request(folder, stopped, "mf_bpr", **terms), found, echo=lambda line: None).status == 0
    (reference,) = study(straight, "mf_bpr-tiny").trials
    interrupted, resumed = study(stopped, "mf_bpr-tiny").trials
    assert interrupted.state.name == "FAIL" and resumed.user_attrs["resumes"] == 0
    assert resumed.params == reference.params
    assert resumed.intermediate_values == reference.intermediate_values and len(reference.intermediate_values) == 5
    assert resumed.value == reference.value
