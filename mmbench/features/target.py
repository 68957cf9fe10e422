"""The dataset folder a feature file is written into: found, checked, loaded, then written.

A catalogue dataset (a folder with a ``dataset.json``) has its files' hashes checked before
anything is made, and gets the new file listed in its manifest (hash, size, the dataset's
checksum, the modality and how it was made) and its card updated: otherwise the next load would
refuse the folder for an unlisted or changed file. A shipped dataset is never written into (its
files are the published ones). A plain folder gets the record beside the feature file, as
``<modality>_feat.json``. Every file is replaced atomically, and nothing is written before every
check has passed and the features are made.
"""

from __future__ import annotations

import copy
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmbench.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from mmbench.data.catalog import CARD_NAME, MANIFEST_NAME, CatalogEntry, read_manifest, resolve
from mmbench.data.checksums import combined_checksum
from mmbench.data.dataset import Dataset
from mmbench.data.loading import load_folder
from mmbench.data.readers import FEATURE_SUFFIX
from mmbench.errors import ConfigError
from mmbench.features.card_update import updated_card
from mmbench.features.record import record_markdown

_MODALITY_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
RECORD_SUFFIX = "_feat.json"


@dataclass(frozen=True)
class FeatureTarget:
    """A checked dataset folder, its manifest entry (None for a plain folder) and its data."""

    folder: Path
    entry: CatalogEntry | None
    dataset: Dataset

    @property
    def n_items(self) -> int:
        return self.dataset.n_items


def check_modality(name: str) -> str:
    """``name`` if it can name a feature set (``<name>_feat.npy``), else :class:`ConfigError`."""
    if not _MODALITY_PATTERN.fullmatch(name):
        raise ConfigError(
            f"invalid --modality {name!r}: use a letter followed by letters, digits, '_' or '-'"
        )
    return name


def open_target(spec: str, datasets_root: Path | None, modality: str, force: bool) -> FeatureTarget:
    """Find the dataset ``spec`` names (catalogue name or folder) and load it, checked.

    Raises :class:`ConfigError` for a shipped dataset, and for an existing
    ``<modality>_feat.npy`` without ``force``; the loader's errors otherwise.
    """
    found = resolve(spec, datasets_root)
    if isinstance(found, Path) and (found / MANIFEST_NAME).is_file():
        manifest = read_manifest(found)
        found = CatalogEntry(str(manifest.get("name", found.name)), found, manifest)
    folder = found.path if isinstance(found, CatalogEntry) else found
    if isinstance(found, CatalogEntry) and found.origin == "shipped":
        raise ConfigError(
            f"{folder} is the shipped dataset {found.name!r}, whose files are the published ones and are "
            f"never replaced; import a copy (`mmbench datasets import {folder} --name NEW_NAME`) and "
            "make the features there"
        )
    output = folder / f"{modality}{FEATURE_SUFFIX}"
    if output.exists() and not force:
        raise ConfigError(f"{output} already exists; pass --force to replace it")
    if isinstance(found, CatalogEntry):
        dataset = load_folder(
            folder, name=found.name, expected_sha256=found.expected_sha256,
            default_modalities=found.default_modalities, warn=False,
        )
        return FeatureTarget(folder, found, dataset)
    return FeatureTarget(folder, None, load_folder(folder, warn=False))


def write_features(target: FeatureTarget, modality: str, values: np.ndarray, record: dict[str, Any]) -> list[Path]:
    """Write ``values`` as ``<modality>_feat.npy`` and ``record`` where the folder keeps it.

    Returns the files written, the feature file first.
    """
    file_name = f"{modality}{FEATURE_SUFFIX}"
    stream = io.BytesIO()
    np.save(stream, np.ascontiguousarray(values, dtype=np.float32), allow_pickle=False)
    data = stream.getvalue()
    if target.entry is None:
        record_path = target.folder / f"{modality}{RECORD_SUFFIX}"
        write_bytes_atomic(target.folder / file_name, data)
        write_json_atomic(record_path, {"file": file_name, "dim": int(values.shape[1]), "made_with": record})
        return [target.folder / file_name, record_path]
    manifest = _updated_manifest(target.entry.manifest, file_name, modality, values, data, record)
    card_path = target.folder / CARD_NAME
    card = (
        updated_card(card_path.read_text(encoding="utf-8"), manifest, modality, record_markdown(file_name, record))
        if card_path.is_file()
        else None
    )
    write_bytes_atomic(target.folder / file_name, data)
    write_json_atomic(target.folder / MANIFEST_NAME, manifest)
    written = [target.folder / file_name, target.folder / MANIFEST_NAME]
    if card is not None:
        write_text_atomic(card_path, card)
        written.append(card_path)
    return written


def _updated_manifest(
    manifest: dict[str, Any], file_name: str, modality: str, values: np.ndarray, data: bytes, record: dict[str, Any]
) -> dict[str, Any]:
    """``manifest`` with the new file's hash and size, the new checksum and the modality's record."""
    updated = copy.deepcopy(manifest)
    updated["files"][file_name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    updated["checksum"] = combined_checksum({name: info["sha256"] for name, info in updated["files"].items()})
    updated.setdefault("modalities", {})[modality] = {
        "dim": int(values.shape[1]),
        "file": file_name,
        "stored_dtype": "float32",
        "encoder": f"{record['encoder']['name']} over column {record['items']['text_column']!r} of "
        f"{Path(record['items']['file']).name}",
        "made_with": record,
    }
    return updated
