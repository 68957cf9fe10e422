"""Seeds, RNG state capture for checkpoints, and device selection."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from mmbench.errors import ConfigError


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's legacy global generator and torch, so CPU runs repeat exactly."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """The global RNG states, to store in a checkpoint."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_device(spec: str) -> torch.device:
    """``auto`` (CUDA if present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``; errors say why not."""
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {spec}: CUDA is not available here; use --device cpu or auto")
        index = spec.partition(":")[2]
        if index:
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise ConfigError(
                    f"--device {spec}: no such GPU; this machine has {torch.cuda.device_count()} "
                    f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
                )
        return torch.device(spec)
    raise ConfigError(f"--device {spec!r} is not valid; use auto, cpu, cuda or cuda:N")
