"""``mmbench tune`` in one process: search spaces, the objective, the worker loop, the command line,
and the tuned-parameters file that ``mmbench run --params`` / ``--tuned`` applies."""

from __future__ import annotations

import json
import os
import signal
import warnings
from pathlib import Path

import optuna
import pytest
import torch

from baselines.lightgcn import LightGCN, LightGCNConfig
from baselines.mf_bpr import MFBPR
from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError
from mmbench.search_space import Categorical, FloatParam, IntParam
from mmbench.training.trainer import Trainer
from mmbench.tuning.launcher import check_gpus, parse_gpus, worker_specs
from mmbench.tuning.objective import Objective
from mmbench.tuning.space import grid, load_space_file, study_space
from mmbench.tuning.storage import default_storage_url, default_study_name, public_url, storage_label
from mmbench.tuning.worker import SurplusTrial, Worker
from synthetic import interaction_rows, tiny_dataset

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

CPU = torch.device("cpu")
TUNE = ("tune", "--model", "lightgcn", "--epochs", "2", "--threads", "1", "--device", "cpu")


@pytest.fixture
def folder(tmp_path, write_mmrec) -> Path:
    """A tiny MMRec dataset folder named ``tiny``."""
    return write_mmrec(tmp_path, "tiny", rows=interaction_rows(tiny_dataset()))


def load(results: Path, name: str = "lightgcn-tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=default_storage_url(results))


def states(study: optuna.Study) -> list[str]:
    return [trial.state.name for trial in study.get_trials()]


class NoTestDataset(Dataset):
    """A dataset whose test split cannot be read: reading it fails the test."""

    def split(self, name: str):
        assert name != "test", "the test split was read"
        return super().split(name)


def no_test(dataset: Dataset) -> NoTestDataset:
    return NoTestDataset(
        dataset.n_users, dataset.n_items, dataset.train, dataset.valid, dataset.test, dataset.features
    )


class NanMF(MFBPR):
    """MF-BPR whose loss is NaN: training diverges at the first batch."""

    def loss(self, batch):
        parts = super().loss(batch)
        return {**parts, "loss": parts["loss"] * float("nan")}


def objective(model_class=LightGCN, dataset=None, epochs: int = 3) -> Objective:
    return Objective(
        model_class, dataset or tiny_dataset(), {"lr": FloatParam(1e-3, 1e-2, log=True)},
        {"epochs": epochs}, seed=1, device=CPU,
    )


def test_default_storage_and_study_name(tmp_path):
    assert default_storage_url(Path("results")) == f"sqlite:///{Path('results').resolve() / 'tuning.db'}"
    assert default_storage_url(tmp_path).startswith("sqlite:////")
    assert default_study_name("lightgcn", "tiktok") == "lightgcn-tiktok"


def test_public_url_drops_only_the_password():
    assert public_url("postgresql://bob:s3cret@db.example:5432/optuna") == "postgresql://bob@db.example:5432/optuna"
    assert public_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_space_file_is_typed_by_the_config(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({
        "lr": {"low": 0.001, "high": 0.1, "log": True},
        "n_layers": {"low": 1, "high": 2},
        "embedding_dim": {"choices": [16, 32]},
    }))
    space = load_space_file(path, LightGCNConfig)
    assert space == {
        "lr": FloatParam(0.001, 0.1, True), "n_layers": IntParam(1, 2), "embedding_dim": Categorical((16, 32)),
    }
    merged = study_space(LightGCNConfig, LightGCN.search_space, space, {"n_layers": 3})
    assert set(merged) == {"lr", "reg_weight", "embedding_dim"}
    assert merged["lr"] == FloatParam(0.001, 0.1, True)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "not valid JSON"),
        ("[]", "non-empty JSON object"),
        ('{"lrr": {"low": 0.1, "high": 1}}', "unknown config key 'lrr'"),
        ('{"lr": {"low": 0.1}}', "expected"),
        ('{"lr": {"low": 1, "high": 0.1}}', "must be below"),
        ('{"lr": {"low": 0, "high": 0.1, "log": true}}', "log range needs low > 0"),
        ('{"n_layers": {"low": 1.5, "high": 3}}', "must be ints"),
        ('{"optimizer": {"low": 1, "high": 3}}', "takes {\"choices\""),
        ('{"embedding_dim": {"choices": []}}', "non-empty list"),
    ],
)
def test_bad_space_file_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "space.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("{", r"\{")):
        load_space_file(path, LightGCNConfig)


def test_space_bounds_are_checked_against_the_model():
    with pytest.raises(ConfigError, match="'lr' must be positive"):
        study_space(LightGCNConfig, {"lr": FloatParam(-1.0, 0.1)}, None, {})
    with pytest.raises(ConfigError, match="search space is empty"):
        study_space(LightGCNConfig, {"lr": FloatParam(0.1, 0.2)}, None, {"lr": 0.1})


def test_grid_enumerates_choices_and_integer_ranges_only():
    assert grid({"n_layers": IntParam(1, 3), "dim": Categorical((8, 16))}) == {"n_layers": [1, 2, 3], "dim": [8, 16]}
    with pytest.raises(ConfigError, match="cannot enumerate the range of 'lr'"):
        grid({"lr": FloatParam(0.1, 0.2)})


def test_the_objective_never_reads_the_test_split():
    dataset = no_test(tiny_dataset())
    with pytest.raises(AssertionError, match="test split was read"):  # the guard works on a normal trainer
        Trainer(LightGCN(dataset.train_view(), LightGCNConfig(epochs=1)), dataset, LightGCNConfig(epochs=1),
                "standard", CPU, 1).fit()
    study = optuna.create_study(direction="maximize")
    study.optimize(objective(dataset=dataset), n_trials=2)
    assert states(study) == ["COMPLETE", "COMPLETE"]


def test_the_objective_reports_every_evaluation_and_returns_the_best():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    study.optimize(objective(epochs=4), n_trials=1)
    trial = study.trials[0]
    assert sorted(trial.intermediate_values) == [1, 2, 3, 4]
    assert trial.value == pytest.approx(max(trial.intermediate_values.values()))
    assert trial.user_attrs["epochs_run"] == 4


def test_a_diverging_trial_is_pruned_not_a_crash():
    study = optuna.create_study(direction="maximize")
    study.optimize(objective(model_class=NanMF), n_trials=1)
    trial = study.trials[0]
    assert trial.state.name == "PRUNED"
    assert "loss became nan" in trial.user_attrs["diverged"]


def test_a_trial_started_after_the_last_one_is_surplus():
    study = optuna.create_study(direction="maximize")
    worker = Worker(study, objective(epochs=1), n_trials=2, heartbeat=False, echo=lambda line: None)
    assert len(worker.run()) == 2
    with pytest.raises(SurplusTrial):
        study.optimize(worker._guarded, n_trials=1)
    assert states(study) == ["COMPLETE", "COMPLETE", "FAIL"]
    assert study.trials[2].user_attrs["surplus"] is True


def test_ctrl_c_during_the_objectives_storage_write_waits_for_the_write(tmp_path):
    """A SIGINT that lands while the objective reports an epoch is raised only after the report:
    the interrupted trial is then marked failed, not left running behind a held database lock."""
    study = optuna.create_study(direction="maximize", storage=default_storage_url(tmp_path))
    task = objective(epochs=5)
    worker = Worker(study, task, n_trials=1, heartbeat=False, echo=lambda line: None)
    reached: list[str] = []

    def interrupt_inside_the_report(number: int, epoch: int, best: float) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        reached.append(f"after the signal, epoch {epoch}")

    task.on_epoch = interrupt_inside_the_report
    task.storage_section = worker.storage_section
    with pytest.raises(KeyboardInterrupt):
        worker.run()
    assert reached == ["after the signal, epoch 1"]
    (trial,) = load(tmp_path, study.study_name).get_trials()
    assert trial.state.name == "FAIL" and sorted(trial.intermediate_values) == [1]


def test_tune_resume_show_and_run_with_the_tuned_parameters(run_main, folder, tmp_path):
    results = tmp_path / "results"
    common = (*TUNE, "--dataset", str(folder), "--results", str(results), "--set", "patience=0")
    first = run_main(*common, "--trials", "3")
    assert first.returncode == 0, first.stderr
    assert states(load(results)).count("COMPLETE") + states(load(results)).count("PRUNED") == 3
    again = run_main(*common, "--trials", "5")  # the same command with more trials resumes
    assert again.returncode == 0, again.stderr
    study = load(results)
    assert len(study.trials) == 5 and "trial 3 started" in again.stdout and "trial 0 started" not in again.stdout

    shown = run_main("tune", "--show", "--study", "lightgcn-tiny", "--results", str(results))
    assert shown.returncode == 0, shown.stderr
    assert f"best trial {study.best_trial.number}: valid recall@20 {study.best_value:.4f}" in shown.stdout
    for trial in study.trials:  # every trial, in order, with what it reached
        assert f"\n  trial {trial.number}: {trial.state.name.lower()} " in shown.stdout
    best = study.best_trial
    assert f"  trial {best.number}: complete {best.value:.4f} at epoch {best.user_attrs['best_epoch']} of " in shown.stdout
    params_file = results / "tuned" / "lightgcn-tiny.json"
    tuned = json.loads(params_file.read_text())
    assert tuned["params"] == study.best_params and tuned["fixed"] == {"epochs": 2, "patience": 0}

    ran = run_main("run", "--models", "lightgcn", "--dataset", str(folder), "--tuned", "--threads", "1",
                   "--device", "cpu", "--results", str(results))
    assert ran.returncode == 0, ran.stderr
    (record_file,) = (results / "runs" / "tiny" / "lightgcn").glob("*/run.json")
    record = json.loads(record_file.read_text())
    assert record["tuned"] == {
        "study": "lightgcn-tiny", "storage": "sqlite:///RESULTS/tuning.db", "params_file": str(params_file),
        "trial": study.best_trial.number, "valid_value": study.best_value,
    }
    assert {key: record["config"][key] for key in study.best_params} == study.best_params
    # the same configuration and seed as the best trial: the same validation value
    assert record["metrics"]["valid"]["recall@20"] == pytest.approx(study.best_value)


def test_journal_storage_runs_and_resumes(run_main, folder, tmp_path):
    journal = tmp_path / "study.log"
    common = (*TUNE, "--dataset", str(folder), "--results", str(tmp_path), "--storage", f"journal:{journal}")
    assert run_main(*common, "--trials", "2").returncode == 0
    assert run_main(*common, "--trials", "3").returncode == 0
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    assert len(optuna.load_study(study_name="lightgcn-tiny", storage=storage).trials) == 3


@pytest.mark.parametrize(
    "extra, message",
    [
        (("--model", "nope"), "unknown model 'nope'"),
        (("--storage", "redis://localhost"), "unsupported storage URL"),
        (("--storage", "sqlite://"), "names no file"),
        (("--gpus", "0,x"), "--gpus expects comma-separated GPU indices"),
        (("--space", "missing.json"), "does not exist"),
        (("--sampler", "grid"), "--sampler grid cannot enumerate"),
        (("--set", "colour=red"), "unknown config key 'colour'"),
        (("--trials", "0"), "--trials must be at least 1"),
        (("--heartbeat", "0"), "--heartbeat must be at least 1"),
    ],
)
def test_bad_input_is_one_line_error(run_main, folder, tmp_path, extra, message):
    result = run_main(*TUNE, "--dataset", str(folder), "--results", str(tmp_path), *extra)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_a_defaults_trial_outside_the_space_is_one_line_error(run_main, folder, tmp_path):
    space = tmp_path / "space.json"
    space.write_text('{"lr": {"low": 0.002, "high": 0.01, "log": true}}')  # lightgcn's default lr is 0.001
    results = tmp_path / "results"
    result = run_main(*TUNE, "--dataset", str(folder), "--results", str(results), "--space", str(space),
                      "--defaults-trial")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "lightgcn: its default lr=0.001 lies outside its search space" in result.stderr
    assert "(--no-defaults-trial)" in result.stderr and not results.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_gpus_without_cuda_is_a_clear_error(run_main, folder, tmp_path):
    result = run_main(*TUNE, "--dataset", str(folder), "--results", str(tmp_path), "--gpus", "0,1")
    assert result.returncode == 2 and "--gpus needs CUDA" in result.stderr


def test_resuming_with_other_settings_is_refused(run_main, folder, tmp_path):
    common = (*TUNE, "--dataset", str(folder), "--results", str(tmp_path), "--trials", "1")
    assert run_main(*common).returncode == 0
    result = run_main(*common, "--seed", "2")
    assert result.returncode == 2 and "was started with a different seed" in result.stderr


def test_show_and_run_name_what_is_missing(run_main, folder, tmp_path):
    shown = run_main("tune", "--show", "--study", "absent", "--results", str(tmp_path))
    assert shown.returncode == 2 and "no study storage at" in shown.stderr
    assert not (tmp_path / "tuning.db").exists()
    tuned = tmp_path / "tuned"
    assert run_main(*TUNE, "--dataset", str(folder), "--results", str(tuned), "--trials", "1").returncode == 0
    shown = run_main("tune", "--show", "--study", "absent", "--results", str(tuned))
    assert shown.returncode == 2 and "no study 'absent'" in shown.stderr
    ran = run_main("run", "--models", "lightgcn", "--dataset", str(folder), "--tuned", "--results", str(tmp_path))
    assert ran.returncode == 2 and "no tuned parameters at" in ran.stderr
    params = tmp_path / "p.json"
    params.write_text(json.dumps({
        "model": "mf_bpr", "dataset": "tiny", "study": "s", "storage": "sqlite:///x", "trial": 0,
        "metric": "recall@20", "valid_value": 0.5, "params": {"lr": 0.01}, "fixed": {},
    }))
    ran = run_main("run", "--models", "lightgcn", "--dataset", str(folder), "--params", str(params))
    assert ran.returncode == 2 and "holds parameters of 'mf_bpr', not 'lightgcn'" in ran.stderr


def test_gpu_workers_are_pinned_one_per_entry():
    assert parse_gpus("0, 1,1") == [0, 1, 1]
    specs = worker_specs(["--model", "m"], workers=1, gpus=[2, 2])
    assert [spec.env for spec in specs] == [{"CUDA_VISIBLE_DEVICES": "2"}, {"CUDA_VISIBLE_DEVICES": "2"}]
    for index, spec in enumerate(specs):
        assert spec.argv[1:] == ["-m", "mmbench", "tune", "--model", "m", "--device", "cuda", "--worker-index", str(index)]
    cpu = worker_specs(["--model", "m"], workers=3, gpus=None)
    assert [spec.argv[-1] for spec in cpu] == ["0", "1", "2"] and all(spec.env == {} for spec in cpu)
    with pytest.raises(ConfigError, match="torch sees 2"):
        check_gpus([0, 3], available=2)
    with pytest.raises(ConfigError, match="needs CUDA"):
        check_gpus([0], available=0)


def test_storage_labels_name_files_inside_the_results_folder_relative_to_it(tmp_path):
    results = tmp_path / "results"
    assert storage_label(default_storage_url(results), results) == "sqlite:///RESULTS/tuning.db"
    assert storage_label(f"journal:{results}/studies/a.log", results) == "journal:RESULTS/studies/a.log"
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    assert storage_label(elsewhere, results) == elsewhere
    assert storage_label("postgresql://tuner:secret@db.lab:5432/studies", results) == "postgresql://tuner@db.lab:5432/studies"


def test_a_failed_trial_carried_on_by_another_counts_as_interrupted():
    """A failed trial whose training a later trial resumes (it stopped at the end of a session),
    whether it began that training or had itself resumed it, or that Ctrl-C stopped, counts as
    interrupted; a failure of any other kind stays failed."""
    from mmbench.tuning.resumable import RESUMES_ATTR
    from mmbench.tuning.states import LABELS
    from mmbench.tuning.worker import INTERRUPTED_ATTR, trial_counts

    study = optuna.create_study(direction="maximize")
    resumed, ctrl_c, broken = (study.ask({"x": optuna.distributions.FloatDistribution(0, 1)}) for _ in range(3))
    ctrl_c.set_user_attr(INTERRUPTED_ATTR, True)
    for trial in (resumed, ctrl_c, broken):
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert trial_counts(study) == {"FAIL": 2, "INTERRUPTED": 1}
    study.enqueue_trial({"x": 0.5}, user_attrs={RESUMES_ATTR: resumed.number})
    carrying = study.ask()
    study.tell(carrying, state=optuna.trial.TrialState.FAIL)
    assert trial_counts(study) == {"INTERRUPTED": 2, "FAIL": 2}
    # a later trial resumes the same training from the checkpoint both earlier ones wrote
    study.enqueue_trial({"x": 0.5}, user_attrs={RESUMES_ATTR: resumed.number})
    finishing = study.ask()
    study.tell(finishing, 0.5)
    assert trial_counts(study) == {"INTERRUPTED": 3, "FAIL": 1, "COMPLETE": 1}
    assert LABELS["INTERRUPTED"] == "interrupted"
