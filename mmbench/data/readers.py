"""What a layout reader hands to validation: raw id arrays, where each row came from, features.

Both on-disk layouts (MMRec ``.inter`` and MMSSL/LATTICE JSON) are read into the same
:class:`RawData`, so that one set of checks (:mod:`mmbench.data.validation`) and one builder serve
both. Rows keep a way back to their origin (file and line, or file, user key and position) so
that an error can point at the exact place to fix. The feature-file reading shared by both
layouts lives here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from mmbench.errors import DataError

FEATURE_SUFFIX = "_feat.npy"
_NPY_MAGIC = b"\x93NUMPY"


@dataclass(frozen=True)
class RawInteractions:
    """All interactions of the three splits as parallel int64 arrays, before any consistency check.

    ``splits`` holds 0/1/2 for train/valid/test. ``locate(i)`` describes where row ``i`` was read
    (for example ``"/data/x/x.inter line 57"``); ``source`` names the file(s) as a whole and
    ``split_sources`` where each split is stored (a file, or a file and its x_label value).
    """

    users: np.ndarray
    items: np.ndarray
    splits: np.ndarray
    locate: Callable[[int], str]
    source: str
    split_sources: tuple[str, str, str]


@dataclass(frozen=True)
class RawFeature:
    """One modality's feature matrix as read (already 2-D, numeric and cast to float32)."""

    modality: str
    path: Path
    values: np.ndarray


@dataclass(frozen=True)
class RawData:
    """Everything read from one dataset folder, not yet checked for consistency.

    ``user_ids`` are all user ids the files name, including users listed without interactions
    (the JSON layout allows ``"7": []``).
    """

    interactions: RawInteractions
    features: tuple[RawFeature, ...]
    user_ids: np.ndarray


def feature_paths(folder: Path) -> list[Path]:
    """The ``<modality>_feat.npy`` files of a folder, sorted by name."""
    return sorted(path for path in folder.glob(f"*{FEATURE_SUFFIX}") if path.is_file())


def read_features(folder: Path) -> tuple[RawFeature, ...]:
    """Read every ``<modality>_feat.npy`` of ``folder``; raise :class:`DataError` on a bad file."""
    return tuple(read_feature(path) for path in feature_paths(folder))


def read_feature(path: Path) -> RawFeature:
    """Read one feature file: it must be a 2-D numeric ``.npy`` array (no pickled objects)."""
    modality = path.name[: -len(FEATURE_SUFFIX)]
    if not modality:
        raise DataError(f"{path}: a feature file needs a modality name, e.g. image{FEATURE_SUFFIX}")
    save_hint = "save the features with numpy.save as a 2-D float array, one row per item"
    with open(path, "rb") as stream:
        if stream.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise DataError(f"{path}: not a .npy file (no NumPy header); {save_hint}")
    try:
        values = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable numeric .npy array ({error}); {save_hint}") from None
    if values.ndim != 2:
        raise DataError(
            f"{path}: features must be 2-D (items x dimensions), got shape {values.shape}; "
            "save one row per item"
        )
    if values.dtype.kind not in "iuf":
        raise DataError(
            f"{path}: features must be numeric, got dtype {values.dtype}; save them as floats"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        as_float32 = values.astype(np.float32)
    return RawFeature(modality, path, as_float32)
