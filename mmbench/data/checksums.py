"""SHA-256 of dataset files, and the one checksum that names a dataset's content in run records.

Shipped datasets list each file's hash in ``dataset.json``; loading them re-hashes the files and
refuses to go on if one differs, so a result can never silently come from edited data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Mapping

from mmbench.errors import DataError

_CHUNK_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_files(paths: list[Path]) -> dict[str, str]:
    """File name -> hex SHA-256 for each path (names must be unique)."""
    return {path.name: sha256_file(path) for path in paths}


def combined_checksum(file_sha256: Mapping[str, str]) -> str:
    """One SHA-256 over the sorted (file name, file SHA-256) pairs: the dataset's content id.

    Independent of the folder's location and of the order the files were read in.
    """
    digest = hashlib.sha256()
    for name, file_hash in sorted(file_sha256.items()):
        digest.update(f"{name}\t{file_hash}\n".encode("utf-8"))
    return digest.hexdigest()


def verify_file_hashes(
    expected: Mapping[str, str], actual: Mapping[str, str], *, label: str, shipped: bool
) -> None:
    """Raise :class:`DataError` unless the files read are exactly those listed, with equal hashes.

    ``label`` is how the folder is named in messages; ``shipped`` picks the advice given (restore
    a shipped file from git, re-import an imported one).
    """
    if shipped:
        changed = "the shipped file was modified — restore it with git checkout"
        incomplete = "the shipped folder is incomplete — restore it with git checkout"
    else:
        changed = "the file changed since it was imported — import it again with --overwrite"
        incomplete = "the imported folder is incomplete — import it again with --overwrite"
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise DataError(
            f"{label}: {', '.join(missing)} listed in dataset.json but not found; {incomplete}"
        )
    unlisted = sorted(set(actual) - set(expected))
    if unlisted:
        raise DataError(
            f"{label}: {', '.join(unlisted)} not listed in dataset.json; remove the extra file, "
            "or import the folder as a new dataset with `mmbench datasets import`"
        )
    for name in sorted(expected):
        if expected[name] != actual[name]:
            raise DataError(
                f"{label}/{name}: sha256 mismatch (expected {expected[name]}, got {actual[name]}); "
                f"{changed}"
            )
