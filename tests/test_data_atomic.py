"""Atomic file and directory writing: complete results or nothing, no stray temporary files."""

from __future__ import annotations

import json
import stat

import pytest

from mmbench.atomic import atomic_directory, write_bytes_atomic, write_json_atomic, write_text_atomic


def test_write_text_creates_and_replaces(tmp_path):
    path = tmp_path / "a.txt"
    write_text_atomic(path, "one")
    write_text_atomic(path, "twö")
    assert path.read_text(encoding="utf-8") == "twö"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_keeps_existing_permissions(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    path.chmod(0o600)
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_json_is_sorted_and_strict(tmp_path):
    path = tmp_path / "a.json"
    write_json_atomic(path, {"b": 1, "a": [1, 2]})
    assert path.read_text().startswith('{\n  "a"') and json.loads(path.read_text())["b"] == 1
    with pytest.raises(ValueError):
        write_json_atomic(path, {"x": float("nan")})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_atomic_directory_appears_complete(tmp_path):
    target = tmp_path / "deep" / "out"
    with atomic_directory(target) as building:
        (building / "f.txt").write_text("x")
        assert not target.exists()
    assert (target / "f.txt").read_text() == "x"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert [p.name for p in target.parent.iterdir()] == ["out"]


def test_atomic_directory_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "out") as building:
            (building / "f.txt").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_directory_overwrite(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(FileExistsError):
        with atomic_directory(target):
            pass
    with pytest.raises(RuntimeError):
        with atomic_directory(target, overwrite=True):
            raise RuntimeError("boom")
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    with atomic_directory(target, overwrite=True) as building:
        (building / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
