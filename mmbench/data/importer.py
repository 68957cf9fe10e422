"""Copy a dataset of either layout into the catalogue as a checked, hashed MMRec folder.

The new folder is built under a temporary name and renamed into place only once it is complete
and re-reads as the same data, so an import that fails at any point leaves nothing behind.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from mmbench.atomic import atomic_directory, write_bytes_atomic, write_json_atomic, write_text_atomic
from mmbench.data.card import render_import_card
from mmbench.data.catalog import CARD_NAME, MANIFEST_NAME, check_name, find_entry, make_manifest
from mmbench.data.dataset import SPLITS, Dataset
from mmbench.data.loading import load_folder
from mmbench.data.mmrec_reader import INTER_SUFFIX, REQUIRED_COLUMNS
from mmbench.errors import ConfigError, DataError


def import_dataset(src: Path, name: str, dest_root: Path, *, overwrite: bool = False) -> Path:
    """Validate the dataset in ``src`` and write it as ``dest_root/<name>``; return that folder.

    The written folder holds ``<name>.inter``, float32 ``<modality>_feat.npy`` files,
    ``dataset.json`` and a generated ``CARD.md``. An existing folder is replaced only with
    ``overwrite``, and a shipped dataset never.
    """
    check_name(name)
    target = Path(dest_root) / name
    _check_target(target, name, Path(dest_root), overwrite)
    source = load_folder(Path(src))
    origin = source.provenance
    assert origin is not None, "load_folder always records provenance"
    with atomic_directory(target, overwrite=overwrite) as building:
        _write_data_files(source, building, name)
        written = load_folder(building, name=name, warn=False)
        _check_same_data(source, written, building)
        manifest = make_manifest(
            written,
            building,
            origin="imported",
            title=f"{name} (imported)",
            extra={
                "source": {
                    "path": origin.path,
                    "layout": origin.layout,
                    "checksum": origin.checksum,
                    "file_sha256": dict(origin.file_sha256),
                }
            },
        )
        write_json_atomic(building / MANIFEST_NAME, manifest)
        write_text_atomic(building / CARD_NAME, render_import_card(written, manifest))
    return target


def _check_target(target: Path, name: str, dest_root: Path, overwrite: bool) -> None:
    if not target.exists():
        return
    entry = find_entry(name, dest_root)
    if entry is not None and entry.origin == "shipped":
        raise ConfigError(
            f"{target} is the shipped dataset {name!r} and is never replaced; choose another --name"
        )
    if not overwrite:
        raise ConfigError(f"{target} already exists; choose another --name or pass --overwrite")


def _write_data_files(dataset: Dataset, folder: Path, name: str) -> None:
    """The interactions as ``<name>.inter`` (sorted by user, split, item) and float32 features."""
    parts = []
    for code, split in enumerate(SPLITS):
        coo = dataset.split(split).tocoo()
        parts.append((coo.row.astype(np.int64), coo.col.astype(np.int64), np.full(coo.nnz, code)))
    users, items, labels = (np.concatenate(column) for column in zip(*parts))
    order = np.lexsort((items, labels, users))
    table = pd.DataFrame(
        dict(zip(REQUIRED_COLUMNS, (users[order], items[order], labels[order])))
    )
    buffer = io.StringIO()
    table.to_csv(buffer, sep="\t", index=False, lineterminator="\n")
    write_bytes_atomic(folder / f"{name}{INTER_SUFFIX}", buffer.getvalue().encode("utf-8"))
    for modality, values in sorted(dataset.features.items()):
        stream = io.BytesIO()
        np.save(stream, np.ascontiguousarray(values, dtype=np.float32), allow_pickle=False)
        write_bytes_atomic(folder / f"{modality}_feat.npy", stream.getvalue())


def _check_same_data(source: Dataset, written: Dataset, folder: Path) -> None:
    """Guard against a writer bug: the written folder must re-read as the source data."""
    same = (
        (source.n_users, source.n_items) == (written.n_users, written.n_items)
        and all((source.split(s) != written.split(s)).nnz == 0 for s in SPLITS)
        and source.modalities == written.modalities
        and all(np.array_equal(source.features[m], written.features[m]) for m in source.modalities)
    )
    if not same:
        raise DataError(f"{folder}: the written copy does not re-read as the source; nothing kept")
