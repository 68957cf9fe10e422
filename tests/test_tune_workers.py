"""``mmbench tune`` with real worker processes sharing one study: on SQLite, on a real PostgreSQL
server, with one worker killed by SIGKILL mid-trial, and stopped by Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

import optuna
import pytest
import sqlalchemy.exc

from conftest import REPO_ROOT
from mmbench.tuning.storage import default_storage_url
from synthetic import interaction_rows, tiny_dataset

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

STARTED = re.compile(
    r"^\[worker (\d)\] trial (\d+)(?: \(the model's defaults\))?(?: \(resumes trial \d+\))? started$", re.MULTILINE
)
# An epoch of the tiny study takes about 20 ms, and the watcher polls every 0.2 s or slower under load:
# a trial must run for seconds for the watcher to see it mid-training.
KILL_EPOCHS = 400
PG_BINARIES = ("initdb", "pg_ctl", "postgres")
PG_DIRS = ("/usr/local/bin", "/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


@pytest.fixture
def folder(tmp_path, write_mmrec) -> Path:
    return write_mmrec(tmp_path, "tiny", rows=interaction_rows(tiny_dataset()))


def tune_command(folder: Path, results: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "mmbench", "tune", "--model", "mf_bpr", "--dataset", str(folder),
        "--results", str(results), "--threads", "1", "--device", "cpu", "--heartbeat", "1", *extra,
    ]


def run(command: list[str], timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


def by_state(study: optuna.Study) -> Counter:
    """Trials by state; the surplus trials of a race on the last trial (never trained) left out."""
    return Counter(t.state.name for t in study.get_trials() if not t.user_attrs.get("surplus"))


def assert_each_trial_ran_once(output: str, study: optuna.Study) -> None:
    started = [int(number) for _, number in STARTED.findall(output)]
    assert len(started) == len(set(started)), f"a trial ran twice: {sorted(started)}"
    finished = {t.number for t in study.get_trials() if t.state.name in ("COMPLETE", "PRUNED")}
    assert finished <= set(started)
    surplus = [t for t in study.get_trials() if t.user_attrs.get("surplus")]
    assert all(t.state.name == "FAIL" and not t.intermediate_values for t in surplus)


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def watch(results: Path) -> Callable[[], list[optuna.trial.FrozenTrial]]:
    """Once the launcher has created the study under ``results``, a cheap reader of its trials."""
    url = default_storage_url(results)
    study = wait_for(lambda: (results / "tuning.db").exists() and _study_if_created(url), 600, "the study")
    return lambda: study.get_trials(deepcopy=False)


def _study_if_created(url: str) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name="mf_bpr-tiny", storage=url)
    except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # no study yet, or its tables half made
        return None


def test_two_sqlite_workers_finish_the_study_when_one_is_killed_mid_trial(folder, tmp_path):
    """Two worker processes share one SQLite study; one is killed with SIGKILL while it trains.

    Its trial turns failed (heartbeat) and is retried with the same parameters by the survivor;
    the study ends with exactly the requested number of complete trials, none run twice.
    """
    storage = default_storage_url(tmp_path)
    launcher = subprocess.Popen(
        tune_command(folder, tmp_path, "--workers", "2", "--trials", "3", "--pruner", "none",
                     "--set", f"epochs={KILL_EPOCHS}", "--set", "patience=0"),
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        trials = watch(tmp_path)
        victim = wait_for(  # in its first half, so that it is certainly still training when killed
            lambda: next((t for t in trials() if t.state.name == "RUNNING" and 0 < len(t.intermediate_values) < KILL_EPOCHS // 2), None),
            600, "a trial in its first epochs",
        )
        os.kill(int(victim.user_attrs["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
        out, err = launcher.communicate(timeout=1800)
    finally:
        launcher.kill()
    assert launcher.returncode == 0, err
    assert "exited with status -9" in out
    study = optuna.load_study(study_name="mf_bpr-tiny", storage=storage)
    trials = study.get_trials()
    assert by_state(study) == Counter(COMPLETE=3, FAIL=1)
    assert trials[victim.number].state.name == "FAIL"
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert retry.state.name == "COMPLETE" and retry.params == victim.params
    # it resumed from the victim's last checkpoint, not from scratch, and left no checkpoint behind
    assert retry.user_attrs["resumed_after_epoch"] >= len(victim.intermediate_values) > 0
    assert not list((tmp_path / "tuning-checkpoints").rglob("*.pt"))
    started = STARTED.findall(out)
    assert {worker for worker, _ in started} == {"0", "1"}
    assert_each_trial_ran_once(out, study)
    assert (tmp_path / "tuned" / "mf_bpr-tiny.json").exists()


def test_ctrl_c_stops_cleanly_and_keeps_finished_trials(folder, tmp_path):
    storage = default_storage_url(tmp_path)
    tune = subprocess.Popen(
        tune_command(folder, tmp_path, "--trials", "50", "--pruner", "none", "--set", "epochs=150", "--set", "patience=150"),
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        trials = watch(tmp_path)

        def second_trial_training() -> bool:
            current = trials()
            return any(t.state.name == "COMPLETE" for t in current) and any(
                t.state.name == "RUNNING" and t.intermediate_values for t in current
            )

        wait_for(second_trial_training, 600, "a finished trial and one in training")
        tune.send_signal(signal.SIGINT)
        out, err = tune.communicate(timeout=1800)
    finally:
        tune.kill()
    assert tune.returncode == 130, err
    assert "interrupted" in out and "finished trials are kept" in out
    counts = by_state(optuna.load_study(study_name="mf_bpr-tiny", storage=storage))
    assert counts["COMPLETE"] >= 1 and counts["FAIL"] == 1 and counts["RUNNING"] == 0


def _pg_binaries() -> dict[str, str] | None:
    found = {}
    for name in PG_BINARIES:
        path = shutil.which(name) or next(
            (str(Path(d) / name) for d in PG_DIRS if (Path(d) / name).exists()), None
        )
        if path is None:
            return None
        found[name] = path
    return found


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server on loopback in a temporary folder, with a password; its URL.

    PostgreSQL refuses to run as root, so under root the server runs as ``nobody``, in a folder
    of its own directly under the system's temporary directory (pytest's is private to root).
    """
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is missing: pip install -e '.[test]'")
    binaries = _pg_binaries()
    if binaries is None:
        pytest.skip(f"PostgreSQL server binaries ({', '.join(PG_BINARIES)}) not found on PATH or in {PG_DIRS}")
    with tempfile.TemporaryDirectory(prefix="mmbench-postgres-") as folder:
        yield from _serve_postgres(Path(folder), binaries)


def _serve_postgres(root: Path, binaries: dict[str, str]) -> Iterator[str]:
    user = {"user": "nobody", "group": "nogroup", "extra_groups": []} if os.geteuid() == 0 else {}
    if user:
        shutil.chown(root, "nobody", "nogroup")
    (root / "password").write_text("s3cret\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = root / "data"

    def pg(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, cwd=root, capture_output=True, text=True, timeout=600, env={**os.environ, "HOME": str(root)}, **user
        )

    initialised = pg(binaries["initdb"], "-D", str(data), "-U", "mmbench", "--pwfile", str(root / "password"),
                     "--auth-host", "scram-sha-256", "--auth-local", "trust", "--no-sync")
    if initialised.returncode != 0:
        pytest.skip(f"initdb could not create a PostgreSQL cluster: {initialised.stderr.strip()[-300:]}")
    started = pg(binaries["pg_ctl"], "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                 f"-h 127.0.0.1 -p {port} -k {root} -F", "start")
    if started.returncode != 0:
        pytest.skip(f"the PostgreSQL server did not start: {(root / 'log').read_text()[-300:]}")
    try:
        yield f"postgresql://mmbench:s3cret@127.0.0.1:{port}/postgres"
    finally:
        pg(binaries["pg_ctl"], "-D", str(data), "-m", "immediate", "-w", "stop")


def test_two_workers_share_a_postgresql_study(folder, tmp_path, postgres_url):
    """With the defaults trial, which the command queues before the workers start and one of them runs."""
    result = run(tune_command(folder, tmp_path, "--workers", "2", "--trials", "4", "--epochs", "2",
                              "--storage", postgres_url, "--defaults-trial"))
    assert result.returncode == 0, result.stderr
    study = optuna.load_study(study_name="mf_bpr-tiny", storage=postgres_url)
    assert by_state(study) == Counter(COMPLETE=5)
    assert_each_trial_ran_once(result.stdout, study)
    assert [t.number for t in study.trials if t.user_attrs.get("defaults")] == [0]
    assert result.stdout.count("trial 0 (the model's defaults) started") == 1
    for worker in (0, 1):
        assert f"[worker {worker}] working on study mf_bpr-tiny (5 trials)" in result.stdout
    assert "s3cret" not in result.stdout and "mmbench@127.0.0.1" in result.stdout
