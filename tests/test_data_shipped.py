"""The shipped datasets load with the published file counts, and their checksums are enforced."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmbench.data import default_datasets_root, list_shipped, load_dataset
from mmbench.data.card import files_markdown, modalities_markdown, statistics_markdown
from mmbench.data.catalog import read_manifest
from mmbench.data.checksums import combined_checksum, sha256_file
from mmbench.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[1]
RELEASE = REPO_ROOT.parent / "shared" / "datasets" / "lfm2k"
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import ship_lfm2k  # noqa: E402

# /work/shared/datasets/README.md: counts and sha256 of the files as published.
EXPECTED = {
    "tiktok": {
        "users": 9308, "items": 6710, "train": 59541, "valid": 3051, "test": 6130,
        "users_without_train": 10, "cold_items": 465, "modalities": {"audio": 128, "image": 128},
        "sha256": {
            "tiktok.inter": "af6557e71564109208471f8e7eb9e74c40acaf05be4f131d93c8ab66b3330bd0",
            "image_feat.npy": "f6c1ec1726ed2aa80315411199ab2143bee6333821bf58c5f00bd3f5b462efc2",
            "audio_feat.npy": "d45a44a9d462f578802de914c2feea5cfd45742b2922775a085b9bdc1beba26f",
        },
    },
    "baby": {
        "users": 19445, "items": 7050, "train": 118551, "valid": 21682, "test": 20559,
        "users_without_train": 0, "cold_items": 2, "modalities": {},
        "sha256": {
            "baby.inter": "65ad9a6077958b5e8c10d70ffcf0a90503d5a05d0b37ced5f48ab69e5fc18be4",
        },
    },
    "lfm2k": {
        "users": 1858, "items": 1425, "train": 44327, "valid": 4799, "test": 7219,
        "users_without_train": 0, "cold_items": 0,
        "modalities": {"audio": 128, "audio_whisper": 512, "text": 384},
        "sha256": {  # the published vggish.npy, whisper.npy and all-MiniLM-L6-v2.npy, renamed
            "lfm2k.inter": "a555d4b0bfabe0a11d1758c667eb9a29e574a60bd563848a73f5a6fccda1b0f9",
            "audio_feat.npy": "50dfedcc27f88929006bc4f425c94c55aa4bce177749b2f93e55fb3d8ac4018c",
            "audio_whisper_feat.npy": "2a2690ff74430711e5a9e22889b5b40cc1b931f6250f25501192d7d63cf98995",
            "text_feat.npy": "b21e98a91fc4ec11e879615f3c47b6f15bdb6e3b7c0d2a9cf0b8008ec83c46b0",
        },
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def shipped():
    """The shipped datasets, loaded once (warnings not logged)."""
    return {name: load_dataset(name, warn=False) for name in EXPECTED}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_counts_match_the_published_files(name, shipped):
    dataset, expected = shipped[name], EXPECTED[name]
    stats = dataset.statistics()
    assert (stats["users"], stats["items"]) == (expected["users"], expected["items"])
    assert stats["interactions"] == {s: expected[s] for s in ("train", "valid", "test")}
    assert stats["users_without_train"] == expected["users_without_train"]
    assert stats["cold_items"] == expected["cold_items"]
    assert stats["modalities"] == expected["modalities"]
    assert all(values.dtype == np.float32 for values in dataset.features.values())


def test_tiktok_protocols_coincide_by_construction(shipped):
    """The reproduction report states that lattice and standard agree on TikTok: this is why."""
    tiktok = shipped["tiktok"]
    has_valid = np.diff(tiktok.valid.indptr) > 0
    test_counts = np.diff(tiktok.test.indptr)
    assert not (has_valid & (test_counts > 0)).any()
    assert set(test_counts[test_counts > 0]) == {1}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_provenance(name, shipped):
    provenance = shipped[name].provenance
    assert provenance.shipped and provenance.layout == "mmrec" and provenance.name == name
    assert dict(provenance.file_sha256) == EXPECTED[name]["sha256"]
    assert provenance.checksum == combined_checksum(EXPECTED[name]["sha256"])
    assert provenance.path == str(default_datasets_root() / name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_manifest_and_card_agree_with_the_loader(name, shipped):
    dataset = shipped[name]
    folder = default_datasets_root() / name
    manifest = read_manifest(folder)
    stats = dataset.statistics()
    assert manifest["statistics"]["interactions"] == stats["interactions"]
    assert manifest["checksum"] == dataset.provenance.checksum
    card = (folder / "CARD.md").read_text(encoding="utf-8")
    for table in (statistics_markdown(dataset), modalities_markdown(manifest), files_markdown(manifest)):
        assert table in card


def test_shipped_warnings_have_counts(caplog):
    with caplog.at_level(logging.WARNING, logger="mmbench.data"):
        load_dataset("tiktok")
        load_dataset("baby")
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("tiktok: 10 of 9308 users have no training interaction") for m in messages)
    assert any(m.startswith("tiktok: 465 of 6710 items never appear in train") for m in messages)
    assert any(m.startswith("baby: 2 of 7050 items never appear in train") for m in messages)


def test_lfm2k_uses_text_and_vggish_audio_by_default_and_ships_whisper_beside_them(shipped):
    lfm2k = shipped["lfm2k"]
    assert lfm2k.modalities == ("audio", "text")
    assert lfm2k.available_modalities == ("audio", "audio_whisper", "text")
    assert set(lfm2k.train_view().features) == {"audio", "text"}
    assert set(lfm2k.with_modalities(["audio_whisper"]).train_view().features) == {"audio_whisper"}


def test_lfm2k_item_text_is_checksummed_and_keyed_by_every_item_id(shipped):
    folder = default_datasets_root() / "lfm2k"
    side = read_manifest(folder)["side_files"]["item_text.tsv"]
    assert sha256_file(folder / "item_text.tsv") == side["sha256"]
    table = pd.read_csv(folder / "item_text.tsv", sep="\t", dtype={"text": str}, keep_default_na=False, quoting=3)
    assert list(table.columns) == ["itemID", "text"]
    assert table["itemID"].tolist() == list(range(shipped["lfm2k"].n_items))
    assert (table["text"].str.len() > 0).all()


@pytest.mark.skipif(not RELEASE.is_dir(), reason="the release copy in ../shared/datasets/lfm2k is not here")
def test_lfm2k_folder_is_rebuilt_byte_for_byte_from_the_release(tmp_path):
    ship_lfm2k.main([str(RELEASE), "--out", str(tmp_path / "lfm2k")])
    for name in [*EXPECTED["lfm2k"]["sha256"], "item_text.tsv", "dataset.json"]:
        assert (tmp_path / "lfm2k" / name).read_bytes() == (default_datasets_root() / "lfm2k" / name).read_bytes(), name


def test_list_shipped():
    entries = {entry.name: entry for entry in list_shipped()}
    assert {"tiktok", "baby", "lfm2k"} <= set(entries)
    summary = entries["tiktok"].summary()
    assert summary["origin"] == "shipped" and summary["users"] == 9308
    assert summary["modalities"] == {"audio": 128, "image": 128}


@pytest.fixture
def tiktok_copy(tmp_path):
    """A copy of the shipped tiktok folder under a separate datasets root."""
    shutil.copytree(default_datasets_root() / "tiktok", tmp_path / "tiktok")
    return tmp_path


def test_modified_shipped_file_is_refused(tiktok_copy):
    inter = tiktok_copy / "tiktok" / "tiktok.inter"
    data = bytearray(inter.read_bytes())
    data[-2] = ord("1") if data[-2] != ord("1") else ord("2")  # one byte of the last x_label
    inter.write_bytes(bytes(data))
    with pytest.raises(DataError) as error:
        load_dataset("tiktok", datasets_root=tiktok_copy)
    message = str(error.value)
    assert "tiktok.inter: sha256 mismatch (expected af6557e71564" in message
    assert "restore it with git checkout" in message


def test_unlisted_file_in_shipped_folder_is_refused(tiktok_copy):
    np.save(tiktok_copy / "tiktok" / "text_feat.npy", np.zeros((6710, 4), np.float32))
    with pytest.raises(DataError, match="text_feat.npy not listed in dataset.json"):
        load_dataset("tiktok", datasets_root=tiktok_copy)


def test_unmodified_copy_loads_as_shipped(tiktok_copy):
    dataset = load_dataset("tiktok", datasets_root=tiktok_copy, warn=False)
    assert dataset.provenance.shipped
    assert dataset.provenance.checksum == combined_checksum(EXPECTED["tiktok"]["sha256"])
