"""The search space of one tuning study: the model's declared space, a file's changes, fixed keys.

A search-space file is JSON mapping config keys to ranges, typed by the model's config:

    {"lr": {"low": 1e-4, "high": 1e-2, "log": true},
     "n_layers": {"low": 1, "high": 4},
     "embedding_dim": {"choices": [32, 64, 128]}}

Its entries replace or add to the model's declared space. Keys fixed with ``--set`` (or
``--epochs``) are taken out of the space, so every trial uses the given value.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping, get_type_hints

from mmbench.config import TrainConfig, apply_overrides
from mmbench.errors import ConfigError
from mmbench.search_space import Categorical, FloatParam, IntParam, Param, SearchSpace


def load_space_file(path: Path, config_class: type[TrainConfig]) -> dict[str, Param]:
    """Parse a search-space file against ``config_class``; any mistake is a one-line ConfigError."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"search-space file {str(path)!r} does not exist") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"search-space file {str(path)!r} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not document:
        raise ConfigError(f"search-space file {str(path)!r} must be a non-empty JSON object of key: range")
    hints = get_type_hints(config_class)
    fields = sorted(f.name for f in dataclasses.fields(config_class))
    space: dict[str, Param] = {}
    for key, spec in document.items():
        if key not in hints:
            raise ConfigError(
                f"search-space file {str(path)!r}: unknown config key {key!r}; valid keys: {', '.join(fields)}"
            )
        space[key] = _parse_param(path, key, spec, hints[key])
    return space


def _parse_param(path: Path, key: str, spec: Any, kind: Any) -> Param:
    where = f"search-space file {str(path)!r}, key {key!r}"
    if isinstance(spec, dict) and set(spec) == {"choices"}:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: 'choices' must be a non-empty list")
        return Categorical(tuple(choices))
    if not isinstance(spec, dict) or not {"low", "high"} <= set(spec) <= {"low", "high", "log"}:
        raise ConfigError(
            f"{where}: expected {{\"low\": L, \"high\": H}} (optionally \"log\": true) or {{\"choices\": [...]}}, got {spec!r}"
        )
    low, high, log = spec["low"], spec["high"], spec.get("log", False)
    if kind not in (int, float):
        raise ConfigError(f"{where}: a {getattr(kind, '__name__', kind)} key takes {{\"choices\": [...]}}, not a range")
    numbers = (int,) if kind is int else (int, float)
    if any(isinstance(v, bool) or not isinstance(v, numbers) for v in (low, high)):
        raise ConfigError(f"{where}: low and high must be {kind.__name__}s, got {low!r} and {high!r}")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: 'log' must be true or false, got {log!r}")
    if low >= high:
        raise ConfigError(f"{where}: low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got {low}")
    return IntParam(low, high, log) if kind is int else FloatParam(float(low), float(high), log)


def study_space(
    config_class: type[TrainConfig],
    declared: SearchSpace,
    file_space: Mapping[str, Param] | None,
    fixed: Mapping[str, Any],
    allow_empty: bool = False,
) -> dict[str, Param]:
    """The space trials draw from: declared + file entries, minus fixed keys, bounds checked.

    Each range's ends (and each choice) are applied to the config, so a value the model would
    reject (a negative learning rate, say) is an error now rather than a failed trial later. An
    empty space is an error unless ``allow_empty`` (``tune-all`` trains such a model's one point).
    """
    space = {key: spec for key, spec in {**declared, **(file_space or {})}.items() if key not in fixed}
    if not space and not allow_empty:
        raise ConfigError(
            "the search space is empty: every key is fixed with --set; drop a --set or add keys with --space"
        )
    base = apply_overrides(config_class(), fixed)
    for key, spec in space.items():
        values = spec.choices if isinstance(spec, Categorical) else (spec.low, spec.high)
        for value in values:
            apply_overrides(base, {key: value})
    return space


def point_count(space: Mapping[str, Param]) -> float:
    """How many distinct configurations ``space`` holds: 1 for an empty space or one whose every
    key has a single value, ``inf`` when a float range is open."""
    count = 1.0
    for spec in space.values():
        if isinstance(spec, Categorical):
            count *= len(set(map(repr, spec.choices)))
        elif isinstance(spec, IntParam):
            count *= spec.high - spec.low + 1
        elif spec.low < spec.high:
            return math.inf
    return count


def grid(space: Mapping[str, Param]) -> dict[str, list[Any]]:
    """Every value of every key, for the grid sampler: choices and whole integer ranges only."""
    values: dict[str, list[Any]] = {}
    for key, spec in space.items():
        if isinstance(spec, Categorical):
            values[key] = list(spec.choices)
        elif isinstance(spec, IntParam) and not spec.log:
            values[key] = list(range(spec.low, spec.high + 1))
        else:
            raise ConfigError(
                f"--sampler grid cannot enumerate the range of {key!r}; give it "
                "{\"choices\": [...]} in a --space file, or fix it with --set"
            )
    return values
