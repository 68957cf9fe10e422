"""Finding models by name: every class declared in the ``mmbench.models`` entry-point group.

One registration adds a model: a line ``name = "package.module:Class"`` under
``[project.entry-points."mmbench.models"]`` of its package's ``pyproject.toml`` (mmbench's own
models are declared the same way). The name is the entry point's; the class is imported, checked
against the contract and named only when a command needs it, so listing and checking names
imports neither the models nor torch, and a misspelt ``--models`` is refused at once.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from mmbench.errors import ConfigError

if TYPE_CHECKING:
    from mmbench.models.base import RecModel

ENTRY_POINT_GROUP = "mmbench.models"


def _load(target: str) -> type[RecModel]:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def parse_model_names(text: str) -> list[str]:
    """The names of a comma-separated ``--models`` value, in order (at least one)."""
    return [part.strip() for part in text.split(",") if part.strip()]


class ModelRegistry:
    """Name -> model class. Classes load lazily, so listing or checking names imports no model code."""

    def __init__(self, targets: dict[str, str] | None = None) -> None:
        self._targets = dict(targets or {})
        self._classes: dict[str, type[RecModel]] = {}

    def add(self, cls: type[RecModel], name: str) -> None:
        """Register a class defined in-process (a notebook, a test) under ``name``."""
        self._classes[name] = _named(cls, name)

    def names(self) -> list[str]:
        return sorted(set(self._targets) | set(self._classes))

    def check(self, names: str) -> list[str]:
        """The names of a comma-separated list, each one registered (else one :class:`ConfigError`
        listing the valid names); nothing is imported."""
        wanted = parse_model_names(names)
        valid = ", ".join(self.names())
        if not wanted:
            raise ConfigError(f"no model named; valid models: {valid}")
        unknown = [name for name in wanted if name not in self._targets and name not in self._classes]
        if unknown:
            raise ConfigError(f"unknown model {', '.join(map(repr, unknown))}; valid models: {valid}")
        return wanted

    def get(self, name: str) -> type[RecModel]:
        """The model class registered as ``name``; an unknown name lists the valid ones."""
        if name not in self._classes:
            self.check(name)
            self._classes[name] = _named(_load(self._targets[name]), name)
        return self._classes[name]

    def resolve(self, names: str) -> list[type[RecModel]]:
        """Classes for a comma-separated list such as ``"lightgcn,mf_bpr"``."""
        return [self.get(name) for name in self.check(names)]


def _named(cls: type, name: str) -> type[RecModel]:
    """``cls`` checked against the plugin contract and given its registered ``name``."""
    from mmbench.models.base import check_contract

    check_contract(cls, name)
    cls.name = name
    return cls


def default_registry() -> ModelRegistry:
    """Every model an installed package declares, mmbench's own included."""
    return ModelRegistry({point.name: point.value for point in entry_points(group=ENTRY_POINT_GROUP)})
