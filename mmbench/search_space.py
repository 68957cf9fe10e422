"""Declarative Optuna search spaces: each model states the ranges around its published defaults.

A space is a plain mapping from config key to a parameter spec, so that it can be printed, stored
with a study and overridden from a file, and turned into Optuna suggestions in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union


@dataclass(frozen=True)
class FloatParam:
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class IntParam:
    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class Categorical:
    choices: Sequence[Any]


Param = Union[FloatParam, IntParam, Categorical]
SearchSpace = Mapping[str, Param]


def suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """Draw one value per key from an Optuna trial."""
    values: dict[str, Any] = {}
    for key, spec in space.items():
        if isinstance(spec, FloatParam):
            values[key] = trial.suggest_float(key, spec.low, spec.high, log=spec.log)
        elif isinstance(spec, IntParam):
            values[key] = trial.suggest_int(key, spec.low, spec.high, log=spec.log)
        else:
            values[key] = trial.suggest_categorical(key, list(spec.choices))
    return values


def describe(space: SearchSpace) -> dict[str, str]:
    """A short human-readable description of each parameter's range."""
    described = {}
    for key, spec in space.items():
        if isinstance(spec, Categorical):
            described[key] = "{" + ", ".join(map(str, spec.choices)) + "}"
        else:
            described[key] = f"[{spec.low}, {spec.high}]" + (" log" if spec.log else "")
    return described
