"""Typed run configurations: training settings shared by every model, extended per model.

A model declares its hyperparameters as a dataclass that subclasses :class:`TrainConfig`, so a run
has one flat, typed config. Overrides from the command line (``--set key=value``) are coerced to the
declared type, and a key that no field declares is an error that lists the valid keys: a typo never
passes silently.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, TypeVar, get_type_hints

from mmbench.errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd")
DEFAULT_KS = (10, 20, 50)  # the metric cut-offs every run evaluates unless --ks says otherwise
SAMPLINGS = ("interactions", "users")

C = TypeVar("C", bound="TrainConfig")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of the shared BPR trainer; models override the defaults that their papers give."""

    epochs: int = 1000
    batch_size: int = 2048
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    eval_every: int = 1
    patience: int = 20
    metric: str = "recall@20"
    eval_batch_size: int = 2048
    sampling: str = "interactions"

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer {self.optimizer!r}; valid optimizers: {', '.join(OPTIMIZERS)}"
            )
        if self.sampling not in SAMPLINGS:
            raise ConfigError(f"unknown sampling {self.sampling!r}; valid values: {', '.join(SAMPLINGS)}")
        require_at_least(self, 1, "epochs", "batch_size", "eval_every", "eval_batch_size")
        require_at_least(self, 0, "patience")
        require_positive(self, "lr")


def require_at_least(config: TrainConfig, minimum: int, *names: str) -> None:
    """Refuse, in one line naming the key, the first of the fields ``names`` whose value is below
    ``minimum``: the range check that every model's config runs on its counts and weights."""
    for name in names:
        value = getattr(config, name)
        if value < minimum:
            raise ConfigError(f"config key {name!r} must be at least {minimum}, got {value}")


def require_positive(config: TrainConfig, *names: str) -> None:
    """Refuse, in one line naming the key, the first of the fields ``names`` that is not above 0:
    the check of learning rates and softmax temperatures, for which 0 is as wrong as negative."""
    for name in names:
        value = getattr(config, name)
        if not value > 0:
            raise ConfigError(f"config key {name!r} must be positive, got {value}")


def require_dropout(config: TrainConfig, *names: str) -> None:
    """Refuse, in one line naming the key, the first of the fields ``names`` outside [0, 1): the
    check of every share of entries or edges dropped at random (1 would drop them all)."""
    for name in names:
        value = getattr(config, name)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"config key {name!r} is a dropout ratio and must be in [0, 1), got {value}")


def require_choice(config: TrainConfig, name: str, choices: Sequence[str]) -> None:
    """Refuse the field ``name`` in one line naming the key and its valid values unless its value
    is one of ``choices``."""
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(f"config key {name!r} must be one of {', '.join(choices)}, got {value!r}")


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The config as a JSON-ready dict, keys in declaration order."""
    return dataclasses.asdict(config)


def config_hash(
    config: TrainConfig, modalities: Sequence[str] | None = None, ks: Sequence[int] | None = None
) -> str:
    """A short stable digest of the config values, used to match runs for ``--resume``.

    ``modalities`` are the feature sets of a run that does not use its dataset's default ones, and
    ``ks`` the cut-offs of a run that does not use the default ones; runs on the defaults leave
    them out, so their digest is the config's alone.
    """
    import hashlib

    values: dict[str, Any] = config_to_dict(config)
    if modalities is not None:
        values["__modalities__"] = sorted(modalities)
    if ks is not None:
        values["__ks__"] = sorted(ks)
    payload = json.dumps(values, sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:10]


def _coerce(key: str, raw: Any, kind: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind is int:
            number = float(text)
            if not number.is_integer():
                raise ValueError(text)
            return int(number)
        if kind is float:
            number = float(text)
            if not math.isfinite(number):
                raise ConfigError(f"config key {key!r} must be a finite number, got {raw!r}")
            return number
        if kind is str:
            return text
        return json.loads(text)
    except (ValueError, json.JSONDecodeError):
        name = getattr(kind, "__name__", str(kind))
        raise ConfigError(f"config key {key!r} expects a {name}, got {raw!r}") from None


def apply_overrides(config: C, overrides: Mapping[str, Any]) -> C:
    """A copy of ``config`` with ``overrides`` applied; values given as strings are coerced."""
    hints = get_type_hints(type(config))
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"for {type(config).__name__}; valid keys: {', '.join(sorted(fields))}"
        )
    values = {key: _coerce(key, raw, hints[key]) for key, raw in overrides.items()}
    return dataclasses.replace(config, **values)


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """Parse ``key=value`` strings from ``--set``; a malformed item is a :class:`ConfigError`."""
    parsed: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r} (for example --set lr=0.001)")
        parsed[key.strip()] = value
    return parsed
