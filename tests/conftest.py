"""Shared fixtures: writers for tiny dataset folders in both on-disk layouts, and a CLI runner.

The tiny dataset has 4 users and 5 items; every user has training, validation and test items,
every item is trained on, and there are two modalities (one stored as float64, one as float16)
so that the float32 cast is exercised.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
HEADER = "userID\titemID\tx_label"
JSON_FILES = {0: "train.json", 1: "val.json", 2: "test.json"}

# (user, item, x_label)
TINY_ROWS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (0, 1, 0), (0, 4, 0), (0, 2, 1), (0, 3, 2),
    (1, 1, 0), (1, 2, 0), (1, 3, 1), (1, 4, 2),
    (2, 2, 0), (2, 3, 0), (2, 4, 1), (2, 0, 2),
    (3, 3, 0), (3, 4, 0), (3, 0, 1), (3, 1, 2),
)  # fmt: skip

MmrecWriter = Callable[..., Path]
JsonWriter = Callable[..., Path]


@pytest.fixture(scope="session")
def tiny_rows() -> tuple[tuple[int, int, int], ...]:
    """The tiny dataset's (user, item, x_label) triples."""
    return TINY_ROWS


@pytest.fixture
def tiny_features() -> dict[str, np.ndarray]:
    """Two modalities for the 5 tiny items, in different stored dtypes."""
    return {
        "image": np.arange(15, dtype=np.float64).reshape(5, 3) / 7.0,
        "audio": (np.arange(10, dtype=np.float16).reshape(5, 2) - 4.0),
    }


def _save_features(folder: Path, features: Mapping[str, np.ndarray] | None) -> None:
    for modality, values in (features or {}).items():
        np.save(folder / f"{modality}_feat.npy", values, allow_pickle=False)


@pytest.fixture(scope="session")
def write_mmrec() -> MmrecWriter:
    """Write an MMRec folder: ``write_mmrec(root, name, rows=..., features=..., text=...)``.

    ``rows`` are (user, item, x_label) triples written under the standard header; ``text`` (the
    whole .inter content) replaces them when a test needs a malformed file.
    """

    def write(
        root: Path,
        name: str = "tiny",
        rows: Iterable[Sequence[int]] = TINY_ROWS,
        features: Mapping[str, np.ndarray] | None = None,
        text: str | None = None,
    ) -> Path:
        folder = root / name
        folder.mkdir(parents=True)
        if text is None:
            text = HEADER + "\n" + "".join("\t".join(map(str, row)) + "\n" for row in rows)
        (folder / f"{name}.inter").write_text(text, encoding="utf-8")
        _save_features(folder, features)
        return folder

    return write


@pytest.fixture(scope="session")
def write_json() -> JsonWriter:
    """Write an MMSSL/LATTICE folder: ``write_json(root, name, rows=..., features=..., documents=...)``.

    ``rows`` become the three JSON files (every user gets a key in train.json, possibly with an
    empty list); ``documents`` (file name -> JSON text) overrides single files verbatim.
    """

    def write(
        root: Path,
        name: str = "tiny_json",
        rows: Iterable[Sequence[int]] = TINY_ROWS,
        features: Mapping[str, np.ndarray] | None = None,
        documents: Mapping[str, str] | None = None,
    ) -> Path:
        folder = root / name
        folder.mkdir(parents=True)
        rows = list(rows)
        users = sorted({row[0] for row in rows})
        splits: dict[int, dict[str, list[int]]] = {code: {} for code in JSON_FILES}
        for user in users:
            splits[0][str(user)] = []
        for user, item, code in rows:
            splits[code].setdefault(str(user), []).append(item)
        for code, file_name in JSON_FILES.items():
            (folder / file_name).write_text(json.dumps(splits[code]), encoding="utf-8")
        for file_name, text in (documents or {}).items():
            (folder / file_name).write_text(text, encoding="utf-8")
        _save_features(folder, features)
        return folder

    return write


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m mmbench ARGS`` from the repository root and capture its output."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mmbench", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=1800,  # a guard against a hang, not a speed limit: the suite must pass on a loaded machine
        )

    return run


class CliResult(NamedTuple):
    """Exit status and captured output of one in-process CLI call."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def run_main() -> Callable[..., CliResult]:
    """Call ``mmbench.cli.main.main(ARGS)`` (what ``python -m mmbench`` runs) in this process.

    Much faster than :func:`run_cli` (no interpreter start-up); log records go to pytest's
    ``caplog`` rather than to the captured stderr.
    """
    from mmbench.cli.main import main

    def run(*args: str) -> CliResult:
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = main(list(args))
        return CliResult(status, stdout.getvalue(), stderr.getvalue())

    return run


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Keep a test to one CPU thread (the machine is shared with training jobs), then restore."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
