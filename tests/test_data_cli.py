"""``mmbench datasets list|info|validate|import`` and the shared ``--dataset`` arguments."""

from __future__ import annotations

import argparse
import json
import logging
import shutil

from mmbench.cli.datasets_cmd import add_dataset_arguments, dataset_from_args
from mmbench.data import default_datasets_root


def test_list_shows_the_shipped_datasets(run_main):
    result = run_main("datasets", "list")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "origin", "users", "items", "train", "valid", "test", "modalities"]
    tiktok = next(line for line in lines if line.startswith("tiktok "))
    assert tiktok.split()[:7] == ["tiktok", "shipped", "9,308", "6,710", "59,541", "3,051", "6,130"]
    assert "audio 128-d, image 128-d" in tiktok


def test_info_json_through_a_real_process(run_cli):
    result = run_cli("datasets", "info", "baby", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["origin"] == "shipped" and report["layout"] == "mmrec"
    assert report["statistics"]["interactions"] == {"train": 118551, "valid": 21682, "test": 20559}
    assert report["file_sha256"]["baby.inter"].startswith("65ad9a60")
    assert report["warnings"] == [
        "baby: 2 of 7050 items never appear in train (cold items, e.g. items 3779, 5322); "
        "no model learns them"
    ]
    assert "McAuley" in report["citation"][0]


def test_info_text_shows_warnings_and_checksum(run_main, tmp_path, write_mmrec, tiny_rows):
    folder = write_mmrec(tmp_path, rows=[row for row in tiny_rows if row[:2] != (0, 0)])
    result = run_main("datasets", "info", str(folder))
    assert result.returncode == 0
    assert "users:         4" in result.stdout
    assert "1 of 5 items never appear in train" in result.stdout
    assert "checksum:" in result.stdout and "tiny.inter  sha256" in result.stdout


def test_validate_ok_prints_counts_and_logs_warnings(run_main, tmp_path, write_json, tiny_rows, caplog):
    folder = write_json(tmp_path, rows=[row for row in tiny_rows if row[:2] != (0, 0)])
    with caplog.at_level(logging.WARNING, logger="mmbench.data"):
        result = run_main("datasets", "validate", str(folder))
    assert result.returncode == 0
    assert result.stdout.startswith(f"OK: {folder} (json layout): 4 users, 5 items, 8 / 4 / 4")
    assert [r.getMessage() for r in caplog.records] == [
        "tiny_json: 1 of 5 items never appear in train (cold items, e.g. items 0); no model learns them",
        "tiny_json: 5 items, fewer than the largest default cut-off K=50; run and evaluate with smaller "
        "cut-offs, for example --ks 5 --set metric=recall@5",
    ]


def test_import_then_use_by_name(run_main, tmp_path, write_json, tiny_features):
    source = write_json(tmp_path, features=tiny_features)
    root = tmp_path / "root"
    result = run_main("datasets", "--datasets-root", str(root), "import", str(source), "--name", "mine")
    assert result.returncode == 0, result.stderr
    assert f"into {root / 'mine'}" in result.stdout and "use it with --dataset mine" in result.stdout
    info = run_main("datasets", "info", "mine", "--json", "--datasets-root", str(root))
    assert json.loads(info.stdout)["origin"] == "imported"
    again = run_main("datasets", "--datasets-root", str(root), "import", str(source), "--name", "mine")
    assert again.returncode == 2 and "pass --overwrite" in again.stderr


def test_import_error_leaves_nothing(run_main, tmp_path, write_mmrec):
    source = write_mmrec(tmp_path, text="userID\titemID\n0\t1\n")
    dest = tmp_path / "dest"
    result = run_main("datasets", "import", str(source), "--name", "bad", "--dest", str(dest))
    assert result.returncode == 2
    assert "missing column(s) x_label" in result.stderr
    assert not dest.exists()


def test_modified_shipped_copy_fails_in_the_cli(run_main, tmp_path):
    shutil.copytree(default_datasets_root() / "baby", tmp_path / "baby")
    inter = tmp_path / "baby" / "baby.inter"
    inter.write_bytes(inter.read_bytes().replace(b"\t", b"\t ", 1))
    result = run_main("datasets", "--datasets-root", str(tmp_path), "info", "baby")
    assert result.returncode == 2
    assert "baby.inter: sha256 mismatch (expected 65ad9a60" in result.stderr


def test_unknown_dataset_name(run_main):
    result = run_main("datasets", "info", "nosuch")
    assert result.returncode == 2
    assert "unknown dataset 'nosuch'" in result.stderr and "known: baby, lfm2k, tiktok" in result.stderr


def test_shared_dataset_arguments(tmp_path, write_mmrec):
    parser = argparse.ArgumentParser()
    add_dataset_arguments(parser)
    folder = write_mmrec(tmp_path)
    assert dataset_from_args(parser.parse_args(["--dataset", str(folder)])).n_users == 4
    args = parser.parse_args(["--dataset", "tiktok", "--datasets-root", str(default_datasets_root())])
    assert dataset_from_args(args).n_items == 6710
