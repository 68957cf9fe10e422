"""The catalogue of named datasets: folders under a datasets root, each with a ``dataset.json``.

The repository ships real datasets in its ``datasets/`` folder; ``mmbench datasets import`` adds
more there (or under another root). A catalogue entry is any sub-folder holding a ``dataset.json``
manifest: its name, layout, files with SHA-256, modalities and counts. This module finds entries,
reads and writes manifests and turns a user's ``NAME|PATH`` into an entry or a folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mmbench
from mmbench.errors import ConfigError, DataError

if TYPE_CHECKING:
    from mmbench.data.dataset import Dataset

MANIFEST_NAME = "dataset.json"
CARD_NAME = "CARD.md"
MANIFEST_SCHEMA = 1
_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class CatalogEntry:
    """One named dataset folder and its parsed manifest."""

    name: str
    path: Path
    manifest: dict[str, Any]

    @property
    def origin(self) -> str:
        """``shipped`` for data that comes with mmbench, ``imported`` for user imports."""
        return str(self.manifest.get("origin", "imported"))

    @property
    def expected_sha256(self) -> dict[str, str]:
        """File name -> SHA-256 recorded in the manifest."""
        return {name: info["sha256"] for name, info in self.manifest["files"].items()}

    @property
    def default_modalities(self) -> tuple[str, ...] | None:
        """The feature sets models use by default, from the manifest (None: all of them)."""
        names = self.manifest.get("default_modalities")
        return None if names is None else tuple(names)

    def summary(self) -> dict[str, Any]:
        """Counts and modalities from the manifest, without loading the data."""
        stats = self.manifest.get("statistics", {})
        return {
            "name": self.name,
            "origin": self.origin,
            "users": stats.get("users"),
            "items": stats.get("items"),
            "interactions": stats.get("interactions", {}),
            "modalities": {m: info["dim"] for m, info in self.manifest.get("modalities", {}).items()},
            "path": str(self.path),
        }


def default_datasets_root() -> Path:
    """The repository's ``datasets/`` folder, found next to the ``mmbench`` package."""
    return Path(mmbench.__file__).resolve().parents[1] / "datasets"


def check_name(name: str) -> str:
    """Return ``name`` if it can name a catalogue entry, else raise :class:`ConfigError`."""
    if not _NAME_PATTERN.fullmatch(name):
        raise ConfigError(
            f"invalid dataset name {name!r}: use a letter followed by letters, digits, '_' or '-' "
            "(at most 64 characters)"
        )
    return name


def read_manifest(folder: Path) -> dict[str, Any]:
    """Parse ``folder/dataset.json``; raise :class:`DataError` if it is malformed."""
    path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise DataError(f"{path}: expected an object with a 'files' object (file name -> sha256)")
    for name, info in manifest["files"].items():
        if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
            raise DataError(f"{path}: files.{name} needs a 'sha256' string")
    return manifest


def list_shipped(datasets_root: Path | None = None) -> list[CatalogEntry]:
    """Every catalogue entry under ``datasets_root`` (default: the repository's), sorted by name."""
    root = datasets_root if datasets_root is not None else default_datasets_root()
    if not root.is_dir():
        return []
    return [
        CatalogEntry(folder.name, folder, read_manifest(folder))
        for folder in sorted(root.iterdir())
        if folder.is_dir() and (folder / MANIFEST_NAME).is_file()
    ]


def find_entry(name: str, datasets_root: Path | None = None) -> CatalogEntry | None:
    """The entry called ``name``, or None when ``name`` is not a catalogue name there."""
    if not _NAME_PATTERN.fullmatch(name):
        return None
    root = datasets_root if datasets_root is not None else default_datasets_root()
    folder = root / name
    if not (folder / MANIFEST_NAME).is_file():
        return None
    return CatalogEntry(name, folder, read_manifest(folder))


def resolve(spec: str | Path, datasets_root: Path | None = None) -> CatalogEntry | Path:
    """A catalogue entry for a known name, else the folder that ``spec`` names.

    A plain name (letters, digits, ``_``, ``-``) is looked up in the catalogue first. Anything
    else must be an existing folder (:class:`DataError` if it is not); an unknown plain name that
    is not a folder either raises :class:`ConfigError` listing the known names.
    """
    text = str(spec)
    plain_name = isinstance(spec, str) and _NAME_PATTERN.fullmatch(text) is not None
    if plain_name:
        entry = find_entry(text, datasets_root)
        if entry is not None:
            return entry
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return folder
    if not plain_name:
        raise DataError(f"dataset folder {folder} does not exist")
    known = ", ".join(entry.name for entry in list_shipped(datasets_root)) or "none"
    root = datasets_root if datasets_root is not None else default_datasets_root()
    raise ConfigError(
        f"unknown dataset {text!r}: not a dataset name in {root} (known: {known}) and not an "
        "existing folder; pass a known name or the path of a dataset folder"
    )


def make_manifest(
    dataset: Dataset,
    folder: Path,
    *,
    origin: str,
    title: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``dataset.json`` content for a loaded dataset whose files lie in ``folder``.

    ``extra`` adds keys such as ``citation``, ``sources`` or ``source`` (for imports).
    """
    import numpy as np

    from mmbench.data.dataset import SPLITS

    if dataset.provenance is None:
        raise ValueError("make_manifest needs a dataset loaded from files (with provenance)")
    stats = dataset.statistics()
    manifest: dict[str, Any] = {
        "schema": MANIFEST_SCHEMA,
        "name": dataset.name,
        "title": title,
        "origin": origin,
        "layout": dataset.provenance.layout,
        "checksum": dataset.provenance.checksum,
        "files": {
            name: {"sha256": sha, "bytes": (folder / name).stat().st_size}
            for name, sha in sorted(dataset.provenance.file_sha256.items())
        },
        "modalities": {
            modality: {
                "dim": int(values.shape[1]),
                "file": f"{modality}_feat.npy",
                "stored_dtype": str(np.load(folder / f"{modality}_feat.npy", mmap_mode="r").dtype),
            }
            for modality, values in sorted(dataset.features.items())
        },
        "statistics": {
            "users": stats["users"],
            "items": stats["items"],
            "interactions": {split: stats["interactions"][split] for split in SPLITS},
            "users_without_train": stats["users_without_train"],
            "cold_items": stats["cold_items"],
        },
    }
    manifest.update(extra or {})
    return manifest
