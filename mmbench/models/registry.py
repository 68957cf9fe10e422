"""Finding models by name: the built-in plugins plus the ``mmbench.models`` entry-point group."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from mmbench.errors import ConfigError
from mmbench.models.base import RecModel

ENTRY_POINT_GROUP = "mmbench.models"
BUILTIN_MODELS = {
    "mf_bpr": "baselines.mf_bpr:MFBPR",
    "lightgcn": "baselines.lightgcn:LightGCN",
    "lattice": "baselines.lattice:Lattice",
    "vbpr": "baselines.vbpr:VBPR",
    "mmgcn": "baselines.mmgcn:MMGCN",
    "mmssl": "mmssl.model:MMSSL",
    "mmssl-official": "mmssl.model:OfficialMMSSL",
}


def _load(target: str) -> type[RecModel]:
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class ModelRegistry:
    """Name -> model class. Classes load lazily, so listing names imports no model code."""

    def __init__(self, targets: dict[str, str] | None = None) -> None:
        self._targets = dict(targets or {})
        self._classes: dict[str, type[RecModel]] = {}

    def add(self, cls: type[RecModel]) -> None:
        """Register a class directly (used by tests and by code that builds models in-process)."""
        if not cls.name:
            raise TypeError(f"{cls.__name__} has no name: decorate it with @register_model(name)")
        self._classes[cls.name] = cls

    def names(self) -> list[str]:
        return sorted(set(self._targets) | set(self._classes))

    def get(self, name: str) -> type[RecModel]:
        """The model class registered as ``name``; an unknown name lists the valid ones."""
        if name not in self._classes:
            if name not in self._targets:
                raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(self.names())}")
            cls = _load(self._targets[name])
            if cls.name != name:
                raise ConfigError(
                    f"entry point {name!r} points to {cls.__name__}, registered as {cls.name!r}"
                )
            self._classes[name] = cls
        return self._classes[name]

    def resolve(self, names: str) -> list[type[RecModel]]:
        """Classes for a comma-separated list such as ``"lightgcn,mf_bpr"``."""
        wanted = [part.strip() for part in names.split(",") if part.strip()]
        if not wanted:
            raise ConfigError(f"no model named; valid models: {', '.join(self.names())}")
        return [self.get(name) for name in wanted]


def default_registry() -> ModelRegistry:
    """The built-in models plus every model another installed package declares."""
    targets = dict(BUILTIN_MODELS)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        targets[point.name] = point.value
    return ModelRegistry(targets)
