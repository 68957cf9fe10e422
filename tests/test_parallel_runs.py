"""``--jobs``: runs trained side by side in worker processes give the records of a sequential command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmbench.data.loading import load_dataset
from mmbench.errors import MMBenchError
from mmbench.parallel_runs import RunSettings, RunUnit, run_units, worker_device
from mmbench.threads import threads_per_worker
from conftest import REPO_ROOT
from synthetic import interaction_rows, tiny_dataset


@pytest.fixture
def small_folder(tmp_path: Path, write_mmrec) -> Path:
    dataset = tiny_dataset(audio_dim=5)
    return write_mmrec(tmp_path, "small", rows=interaction_rows(dataset), features=dict(dataset.features))


def metrics_by_run(results: Path) -> dict[tuple, dict]:
    """(model, variant, seed, protocol) -> test metrics of every record under ``results``."""
    records = [json.loads(p.read_text()) for p in results.glob("runs/*/*/*/run.json")]
    return {(r["model"], r.get("variant"), r["seed"], r["protocol"]): r["metrics"]["test"] for r in records}


def test_two_jobs_give_the_records_of_one_job(run_cli, small_folder: Path, tmp_path: Path) -> None:
    common = ["run", "--models", "mf_bpr,lightgcn", "--dataset", str(small_folder), "--seeds", "1,2",
              "--epochs", "2", "--set", "batch_size=32", "--device", "cpu", "--threads", "1",
              "--protocol", "lattice,standard"]
    sequential = run_cli(*common, "--results", str(tmp_path / "one"))
    parallel = run_cli(*common, "--jobs", "2", "--results", str(tmp_path / "two"))
    assert sequential.returncode == 0, sequential.stderr
    assert parallel.returncode == 0, parallel.stderr
    one, two = metrics_by_run(tmp_path / "one"), metrics_by_run(tmp_path / "two")
    assert len(one) == 8 and one == two
    result_lines = [line for line in parallel.stdout.splitlines() if "test recall@20" in line]
    assert len(result_lines) == 8
    assert "protocol `lattice`" in parallel.stdout and "protocol `standard`" in parallel.stdout
    assert not list((tmp_path / "two").glob("runs/*/*/*/checkpoint.pt"))


def test_ablate_with_jobs_marks_each_variant(run_cli, small_folder: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = run_cli(
        "ablate", "--model", "mmssl", "--dataset", str(small_folder), "--seeds", "1",
        "--variants", "full,w/o-CL,w/o-audio", "--epochs", "1", "--set", "batch_size=16",
        "--jobs", "3", "--results", str(results),
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(variant for _, variant, _, _ in metrics_by_run(results)) == ["full", "w/o-CL", "w/o-audio"]


def test_a_failing_run_fails_the_command_and_names_the_run(small_folder: Path, tmp_path: Path) -> None:
    settings = RunSettings(str(small_folder), None, ("standard",), "cpu", tmp_path / "r", False, 1)
    units = [
        RunUnit("mf_bpr", "mf_bpr", 1, {"epochs": "1", "batch_size": "32"}),
        RunUnit("broken", "no_such_model", 3),
    ]
    dataset = load_dataset(small_folder, warn=False)
    printed: list[str] = []
    with pytest.raises(MMBenchError, match=r"broken seed 3: unknown model 'no_such_model'"):
        run_units(units, settings, dataset, 2, lambda label, seed, record: printed.append(label))


@pytest.mark.parametrize("flag", ["--jobs", "--threads"])
def test_fewer_than_one_job_or_thread_is_one_error_line(run_cli, small_folder: Path, tmp_path: Path, flag: str) -> None:
    proc = run_cli("run", "--models", "mf_bpr", "--dataset", str(small_folder), flag, "0",
                   "--results", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"mmbench: error: {flag} must be at least 1, got 0"
    assert not (tmp_path / "r").exists()


def test_cores_are_shared_out_only_when_threads_are_not_given(monkeypatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert threads_per_worker(None, 1) is None
    assert threads_per_worker(None, 3) == 2
    assert threads_per_worker(None, 16) == 1
    assert threads_per_worker(4, 3) == 4


def test_tune_workers_share_the_cores_by_the_same_rule(monkeypatch) -> None:
    from dataclasses import replace

    from mmbench.tuning.tune import TuneRequest, worker_argv

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    request = TuneRequest("m", "d", Path("r"), trials=4, device="cpu")
    argv = worker_argv(request, "study", workers=4)
    assert argv[argv.index("--threads") + 1] == "2"
    argv = worker_argv(replace(request, threads=3), "study", workers=4)
    assert argv[argv.index("--threads") + 1] == "3"


def test_cuda_workers_are_spread_over_the_gpus_and_an_explicit_device_is_kept() -> None:
    assert worker_device("cuda", 4, []) == "cuda:0"
    assert worker_device("cuda", 4, ["cuda:0", "cuda:1"]) == "cuda:2"
    assert worker_device("cuda", 2, ["cuda:0", "cuda:1", "cuda:0"]) == "cuda:1"
    assert worker_device("cuda", 2, ["cuda:1"]) == "cuda:0"
    assert worker_device("cuda", 1, ["cuda"]) == "cuda"
    assert worker_device("cuda:3", 4, []) == "cuda:3"
    assert worker_device("cpu", 0, ["cpu"]) == "cpu"


def process_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process, read from Linux's /proc; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def is_running(pid: int) -> bool:
    state = process_state(pid)
    return state is not None and state[0] != "Z"


def children_of(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    states = {int(entry.name): process_state(int(entry.name)) for entry in Path("/proc").iterdir() if entry.name.isdigit()}
    return [child for child, state in states.items() if state is not None and state[0] != "Z" and state[1] == pid]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux's /proc")
def test_workers_end_when_their_command_is_killed(small_folder: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    command = subprocess.Popen(
        [sys.executable, "-m", "mmbench", "run", "--models", "mf_bpr,lightgcn", "--dataset", str(small_folder),
         "--epochs", "100000", "--set", "patience=0", "--set", "batch_size=32", "--device", "cpu",
         "--threads", "1", "--jobs", "2", "--results", str(results)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while len(list(results.glob("runs/*/*/*/checkpoint.pt"))) < 2:
            assert command.poll() is None, "the command ended before its workers trained"
            assert time.monotonic() < deadline, "the workers wrote no checkpoints within 90 s"
            time.sleep(0.2)
        workers += [pid for pid in children_of(command.pid) if "spawn_main" in
                    Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
        assert len(workers) == 2
        command.send_signal(signal.SIGKILL)
        command.wait()
        deadline = time.monotonic() + 20
        while any(is_running(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if is_running(pid)], "workers trained on after their command was killed"
    finally:
        if command.poll() is None:
            command.kill()
        for pid in workers + children_of(command.pid):
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)
