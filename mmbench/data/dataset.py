"""The validated in-memory dataset, and the training-only view that models receive.

A :class:`Dataset` holds all three splits; a model is built from a :class:`TrainView`, a type that
has no validation or test interactions at all, so a model cannot read them by accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np
import scipy.sparse as sp

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class Provenance:
    """Where a dataset came from: enough to name it in a run record and detect changed files."""

    name: str
    path: str
    layout: str
    file_sha256: Mapping[str, str]
    checksum: str
    shipped: bool = False


@dataclass(frozen=True)
class TrainView:
    """What a model may see: the training interactions and the item features, nothing else."""

    n_users: int
    n_items: int
    train: sp.csr_matrix
    features: Mapping[str, np.ndarray]

    @property
    def modalities(self) -> tuple[str, ...]:
        """Names of the feature modalities, in a stable (sorted) order."""
        return tuple(sorted(self.features))


@dataclass(frozen=True)
class Dataset:
    """Validated interactions (CSR, float32 ones, shape n_users x n_items) and float32 features."""

    n_users: int
    n_items: int
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    features: Mapping[str, np.ndarray] = field(default_factory=dict)
    provenance: Provenance | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", MappingProxyType(dict(self.features)))

    @property
    def name(self) -> str:
        return self.provenance.name if self.provenance else "unnamed"

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(sorted(self.features))

    def split(self, name: str) -> sp.csr_matrix:
        """The interaction matrix of one split: ``train``, ``valid`` or ``test``."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def train_view(self) -> TrainView:
        return TrainView(self.n_users, self.n_items, self.train, self.features)

    def statistics(self) -> dict[str, object]:
        """Counts that a dataset card and ``mmbench datasets info`` report."""
        train_users = np.diff(self.train.indptr) > 0
        train_items = np.asarray((self.train > 0).sum(axis=0)).ravel() > 0
        return {
            "users": self.n_users,
            "items": self.n_items,
            "interactions": {s: int(self.split(s).nnz) for s in SPLITS},
            "total_interactions": int(sum(self.split(s).nnz for s in SPLITS)),
            "density": float(sum(self.split(s).nnz for s in SPLITS)) / (self.n_users * self.n_items),
            "users_without_train": int((~train_users).sum()),
            "cold_items": int((~train_items).sum()),
            "users_with_valid": int((np.diff(self.valid.indptr) > 0).sum()),
            "users_with_test": int((np.diff(self.test.indptr) > 0).sum()),
            "modalities": {m: int(f.shape[1]) for m, f in sorted(self.features.items())},
        }
