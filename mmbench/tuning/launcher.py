"""Starting several workers on this machine: one process each, on CPU or pinned to one GPU.

Each worker is ``python -m mmbench tune ... --worker-index I`` on the same storage and study;
a GPU worker sees only its device (``CUDA_VISIBLE_DEVICES``) and trains on ``cuda``. Workers run
in their own session, so a Ctrl-C reaches the launcher only, which passes one SIGINT to each
worker: each marks its running trial failed and exits, and every finished trial stays stored.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from mmbench.errors import ConfigError

POLL_SECONDS = 2.0


@dataclass(frozen=True)
class WorkerSpec:
    """The command line and the extra environment of one worker process."""

    argv: list[str]
    env: dict[str, str]


def parse_gpus(text: str) -> list[int]:
    """``"0,1,1"`` -> ``[0, 1, 1]``: one worker per entry (repeat an index for two workers on it)."""
    parts = [part.strip() for part in text.split(",")]
    if not parts or any(not part.isdigit() for part in parts):
        raise ConfigError(f"--gpus expects comma-separated GPU indices such as 0,1,2,3, got {text!r}")
    return [int(part) for part in parts]


def check_gpus(gpus: Sequence[int], available: int) -> None:
    """Every index must name a CUDA device that torch sees here."""
    if available == 0:
        raise ConfigError(
            "--gpus needs CUDA, but torch sees no CUDA device on this machine; use --workers N to tune on CPU"
        )
    missing = sorted({gpu for gpu in gpus if gpu >= available})
    if missing:
        raise ConfigError(
            f"--gpus names GPU {', '.join(map(str, missing))}, but torch sees {available} "
            f"(indices 0 to {available - 1})"
        )


def worker_specs(worker_args: Sequence[str], workers: int, gpus: Sequence[int] | None) -> list[WorkerSpec]:
    """One spec per worker: ``worker_args`` (the tune options every worker shares) plus its own.

    With ``gpus`` there is one worker per entry, pinned with ``CUDA_VISIBLE_DEVICES``; otherwise
    ``workers`` CPU workers.
    """
    base = [sys.executable, "-m", "mmbench", "tune", *worker_args]
    if gpus:
        return [
            WorkerSpec([*base, "--device", "cuda", "--worker-index", str(index)], {"CUDA_VISIBLE_DEVICES": str(gpu)})
            for index, gpu in enumerate(gpus)
        ]
    return [WorkerSpec([*base, "--worker-index", str(index)], {}) for index in range(workers)]


def run_workers(specs: Sequence[WorkerSpec], on_poll: Callable[[], None] | None = None) -> list[int]:
    """Start every worker, wait for all, and return their exit codes.

    ``on_poll`` runs every couple of seconds while they work (the launcher's progress line). On
    Ctrl-C each running worker gets one SIGINT and is waited for, then KeyboardInterrupt goes on.
    """
    processes = [
        subprocess.Popen(spec.argv, env=_environment(spec.env), start_new_session=True) for spec in specs
    ]
    try:
        for process in processes:
            while process.poll() is None:
                if on_poll is not None:
                    on_poll()
                try:
                    process.wait(timeout=POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
    except KeyboardInterrupt:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            process.wait()
        raise
    return [process.returncode for process in processes]


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}
