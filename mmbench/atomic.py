"""Write files and whole directories so that a reader never sees them half-written.

A crash or an exception in the middle of a write must leave either the old content or nothing,
never a truncated dataset, run record or report. Files are written to a temporary sibling, flushed
to disk and moved over the target with :func:`os.replace` (atomic on POSIX and Windows within one
file system); directories are built under a temporary sibling name and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

_NEW_FILE_MODE = 0o644
_NEW_DIRECTORY_MODE = 0o755


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step; the folder must exist.

    An existing file keeps its permission bits; a new file gets ``rw-r--r--``.
    """
    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else _NEW_FILE_MODE
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` encoded as UTF-8, in one step."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, obj: Any) -> None:
    """Replace ``path`` with ``obj`` as indented, key-sorted JSON ending in a newline."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    write_text_atomic(path, text + "\n")


@contextlib.contextmanager
def atomic_directory(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it to ``target`` when the block ends.

    Yields the temporary folder to fill. If the block raises, the temporary folder is removed and
    ``target`` is left as it was. An existing ``target`` is an error (:class:`FileExistsError`)
    unless ``overwrite`` is true, in which case it is replaced only once the new one is complete.
    The parent folder is created if needed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists")
    building = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        os.chmod(building, _NEW_DIRECTORY_MODE)
        yield building
        _fsync_tree(building)
        _move_into_place(building, target, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    _fsync_directory(target.parent)


def _move_into_place(building: Path, target: Path, *, overwrite: bool) -> None:
    """Rename ``building`` to ``target``, first moving an old ``target`` aside if allowed."""
    if not target.exists():
        # os.rename refuses to replace a non-empty directory, so a folder that appeared
        # meanwhile is never clobbered.
        os.rename(building, target)
        return
    if not overwrite:
        raise FileExistsError(f"{target} already exists")
    retired = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
    os.rmdir(retired)
    os.rename(target, retired)
    try:
        os.rename(building, target)
    except BaseException:
        os.rename(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    """Flush every file under ``folder`` and the folders themselves to disk."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as stream:
                os.fsync(stream.fileno())
        _fsync_directory(Path(root))


def _fsync_directory(folder: Path) -> None:
    """Make a rename inside ``folder`` durable; a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
