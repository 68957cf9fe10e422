"""Turn ``NAME|PATH`` into a validated :class:`Dataset`: find, detect layout, read, check, build.

This is the one door through which every command gets its data. Catalogue datasets (the shipped
ones and earlier imports) have their files' SHA-256 checked against ``dataset.json`` first, so a
result can never silently come from modified data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from mmbench.data.catalog import CatalogEntry, resolve
from mmbench.data.checksums import combined_checksum, hash_files, verify_file_hashes
from mmbench.data.dataset import SPLITS, Dataset, Provenance
from mmbench.data.json_reader import SPLIT_FILES, read_json_layout
from mmbench.data.mmrec_reader import inter_files, read_mmrec
from mmbench.data.readers import FEATURE_SUFFIX, RawData, feature_paths
from mmbench.data.validation import Shape, dataset_warnings, validate
from mmbench.errors import DataError

LOGGER = logging.getLogger("mmbench.data")


def load_dataset(spec: str | Path, datasets_root: Path | None = None, *, warn: bool = True) -> Dataset:
    """Load a catalogue dataset by name (``tiktok``, ``baby``, imports) or a dataset folder.

    ``datasets_root`` replaces the repository's ``datasets/`` folder as the catalogue. With
    ``warn`` the dataset's warnings (users without training items, cold items) are logged to
    the ``mmbench.data`` logger.
    """
    target = resolve(spec, datasets_root)
    if isinstance(target, CatalogEntry):
        return load_folder(
            target.path,
            name=target.name,
            expected_sha256=target.expected_sha256,
            shipped=target.origin == "shipped",
            default_modalities=target.default_modalities,
            warn=warn,
        )
    return load_folder(target, warn=warn)


def load_folder(
    folder: Path,
    *,
    name: str | None = None,
    expected_sha256: Mapping[str, str] | None = None,
    shipped: bool = False,
    default_modalities: Sequence[str] | None = None,
    warn: bool = True,
) -> Dataset:
    """Read, validate and build the dataset in ``folder`` (either layout).

    With ``expected_sha256`` (file name -> hash) the files read must be exactly those, unchanged.
    ``default_modalities`` names the feature sets models get by default (None: all of them).
    """
    folder = Path(folder)
    layout = detect_layout(folder)
    file_sha256 = hash_files(data_files(folder, layout))
    if expected_sha256 is not None:
        # before parsing: a modified shipped file must be reported as such, not as a parse error
        verify_file_hashes(expected_sha256, file_sha256, label=str(folder), shipped=shipped)
    raw = read_mmrec(folder) if layout == "mmrec" else read_json_layout(folder)
    shape = validate(raw)
    provenance = Provenance(
        name=name or folder.resolve().name,
        path=str(folder.resolve()),
        layout=layout,
        file_sha256=file_sha256,
        checksum=combined_checksum(file_sha256),
        shipped=shipped,
    )
    dataset = build_dataset(raw, shape, provenance, default_modalities)
    if warn:
        for message in dataset_warnings(dataset):
            LOGGER.warning(message)
    return dataset


def detect_layout(folder: Path) -> str:
    """``mmrec`` for a folder with a ``.inter`` file, ``json`` for one with the split JSON files."""
    if not folder.exists():
        raise DataError(f"dataset folder {folder} does not exist")
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; pass the folder that holds the dataset files")
    has_inter = bool(inter_files(folder))
    has_json = any((folder / name).is_file() for name in SPLIT_FILES.values())
    if has_inter and has_json:
        raise DataError(
            f"{folder}: holds both a .inter file (MMRec layout) and split .json files "
            "(MMSSL/LATTICE layout); keep one layout per folder"
        )
    if has_inter:
        return "mmrec"
    if has_json:
        return "json"
    found = ", ".join(sorted(path.name for path in folder.iterdir())[:10]) or "nothing"
    raise DataError(
        f"{folder}: no dataset found; expected either one <name>.inter file (MMRec layout: "
        "tab-separated userID, itemID, x_label) or train.json, val.json and test.json "
        "(MMSSL/LATTICE layout), each with optional <modality>_feat.npy files; "
        f"found: {found}"
    )


def data_files(folder: Path, layout: str) -> list[Path]:
    """The files of ``folder`` that the reader of ``layout`` reads: what a checksum covers."""
    if layout == "mmrec":
        interactions = inter_files(folder)
    else:
        interactions = [folder / name for name in SPLIT_FILES.values() if (folder / name).is_file()]
    return interactions + feature_paths(folder)


def build_dataset(
    raw: RawData, shape: Shape, provenance: Provenance, default_modalities: Sequence[str] | None = None
) -> Dataset:
    """Assemble the CSR splits (float32 ones, sorted indices) and float32 features."""
    have = {feature.modality for feature in raw.features}
    unknown = sorted(set(default_modalities or ()) - have)
    if unknown:
        raise DataError(
            f"{provenance.path}: dataset.json names default modalities {', '.join(unknown)} but the folder "
            f"has no {', '.join(name + FEATURE_SUFFIX for name in unknown)}; fix 'default_modalities' there"
        )
    interactions = raw.interactions
    matrices = {}
    for code, split in enumerate(SPLITS):
        rows = interactions.splits == code
        matrix = sp.csr_matrix(
            (
                np.ones(int(rows.sum()), dtype=np.float32),
                (interactions.users[rows], interactions.items[rows]),
            ),
            shape=(shape.n_users, shape.n_items),
        )
        matrix.sort_indices()
        matrices[split] = matrix
    return Dataset(
        n_users=shape.n_users,
        n_items=shape.n_items,
        features={feature.modality: feature.values for feature in raw.features},
        provenance=provenance,
        default_modalities=None if default_modalities is None else tuple(default_modalities),
        **matrices,
    )
