"""The validated in-memory dataset, and the training-only view that models receive.

A :class:`Dataset` holds all three splits; a model is built from a :class:`TrainView`, a type that
has no validation or test interactions at all, so a model cannot read them by accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from mmbench.errors import ConfigError

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
    """Validated interactions (CSR, float32 ones, shape n_users x n_items) and float32 features.

    ``features`` holds every feature set the folder has (``<name>_feat.npy``). A dataset may hold
    more than its models use by default (Last.fm-2K ships two audio encoders):
    ``default_modalities`` names the default ones (None: all), and ``selected_modalities`` the
    ones this copy hands to models (None: the default ones); :meth:`with_modalities` picks them.
    """

    n_users: int
    n_items: int
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    features: Mapping[str, np.ndarray] = field(default_factory=dict)
    provenance: Provenance | None = None
    default_modalities: tuple[str, ...] | None = None
    selected_modalities: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", MappingProxyType(dict(self.features)))
        for names, what in ((self.default_modalities, "default"), (self.selected_modalities, "selected")):
            if names is not None:
                object.__setattr__(self, f"{what}_modalities", self._checked(names))

    @property
    def name(self) -> str:
        return self.provenance.name if self.provenance else "unnamed"

    @property
    def available_modalities(self) -> tuple[str, ...]:
        """Every feature set the dataset holds, sorted."""
        return tuple(sorted(self.features))

    @property
    def default_feature_sets(self) -> tuple[str, ...]:
        """The feature sets models use unless told otherwise, sorted."""
        return self.default_modalities if self.default_modalities is not None else self.available_modalities

    @property
    def modalities(self) -> tuple[str, ...]:
        """The feature sets handed to models (the selected ones, else the default ones), sorted."""
        return self.selected_modalities if self.selected_modalities is not None else self.default_feature_sets

    @property
    def uses_default_modalities(self) -> bool:
        """Whether models get the dataset's default feature sets."""
        return self.modalities == self.default_feature_sets

    @property
    def study_key(self) -> str:
        """The name, followed by the feature sets when they are not the default ones
        (``lfm2k-audio_whisper+text``): what names a tuning study and its parameters file."""
        return self.name if self.uses_default_modalities else f"{self.name}-{'+'.join(self.modalities)}"

    def with_modalities(self, names: Sequence[str] | None) -> "Dataset":
        """This dataset handing ``names`` to models (None: the default feature sets).

        An unknown name is a :class:`ConfigError` that lists the feature sets the dataset has.
        """
        return replace(self, selected_modalities=None if names is None else self._checked(names))

    def _checked(self, names: Sequence[str]) -> tuple[str, ...]:
        unknown = [name for name in names if name not in self.features]
        if unknown:
            have = ", ".join(self.available_modalities) or "none (interactions only)"
            raise ConfigError(
                f"unknown feature set(s) {', '.join(map(repr, unknown))} for dataset {self.name!r}; "
                f"it has: {have} (fix --modalities)"
            )
        return tuple(sorted(set(names)))

    def split(self, name: str) -> sp.csr_matrix:
        """The interaction matrix of one split: ``train``, ``valid`` or ``test``."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return getattr(self, name)

    def train_view(self) -> TrainView:
        """What models see: training interactions and the selected feature sets only."""
        features = {name: self.features[name] for name in self.modalities}
        return TrainView(self.n_users, self.n_items, self.train, features)

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
            "default_modalities": list(self.default_feature_sets),
        }
