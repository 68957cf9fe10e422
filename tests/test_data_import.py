"""Importing a dataset: round trip, generated manifest and card, and nothing left on failure."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mmbench.data import import_dataset, load_dataset, load_folder
from mmbench.data.dataset import SPLITS
from mmbench.errors import ConfigError, DataError


def _same(a, b) -> None:
    assert (a.n_users, a.n_items) == (b.n_users, b.n_items)
    for split in SPLITS:
        assert (a.split(split) != b.split(split)).nnz == 0
    assert a.modalities == b.modalities
    for modality in a.modalities:
        np.testing.assert_array_equal(a.features[modality], b.features[modality])


def test_json_layout_import_round_trips(tmp_path, write_json, tiny_features):
    source = write_json(tmp_path / "src", features=tiny_features)
    root = tmp_path / "catalogue"
    target = import_dataset(source, "tiny_import", root)
    assert target == root / "tiny_import"
    assert sorted(p.name for p in target.iterdir()) == [
        "CARD.md", "audio_feat.npy", "dataset.json", "image_feat.npy", "tiny_import.inter",
    ]  # fmt: skip
    imported = load_dataset("tiny_import", datasets_root=root)
    _same(load_folder(source), imported)
    assert imported.provenance.layout == "mmrec" and not imported.provenance.shipped
    manifest = json.loads((target / "dataset.json").read_text())
    assert manifest["origin"] == "imported"
    assert manifest["source"]["layout"] == "json"
    assert manifest["statistics"]["interactions"] == {"train": 9, "valid": 4, "test": 4}
    assert manifest["modalities"]["audio"] == {"dim": 2, "file": "audio_feat.npy", "stored_dtype": "float32"}
    card = (target / "CARD.md").read_text()
    assert "| users | 4 |" in card and str(source.resolve()) in card
    assert manifest["files"]["tiny_import.inter"]["sha256"] in card
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary folders


def test_mmrec_import_keeps_the_data(tmp_path, write_mmrec):
    source = write_mmrec(tmp_path / "src")
    target = import_dataset(source, "again", tmp_path / "out")
    _same(load_folder(source), load_folder(target))


def test_invalid_source_leaves_nothing(tmp_path, write_mmrec, tiny_rows):
    source = write_mmrec(tmp_path / "src", rows=list(tiny_rows) + [(1, 1, 0)])
    dest = tmp_path / "out"
    with pytest.raises(DataError, match="duplicate train interaction"):
        import_dataset(source, "broken", dest)
    assert not dest.exists() or not any(dest.iterdir())


def test_failure_while_writing_leaves_nothing(tmp_path, write_mmrec, monkeypatch):
    source = write_mmrec(tmp_path / "src")
    dest = tmp_path / "out"
    dest.mkdir()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("mmbench.data.importer.render_import_card", fail)
    with pytest.raises(OSError, match="disk full"):
        import_dataset(source, "half", dest)
    assert list(dest.iterdir()) == []


def test_existing_folder_needs_overwrite(tmp_path, write_mmrec, write_json):
    dest = tmp_path / "out"
    import_dataset(write_mmrec(tmp_path / "a"), "tiny", dest)
    with pytest.raises(ConfigError, match="already exists; choose another --name or pass --overwrite"):
        import_dataset(write_mmrec(tmp_path / "b"), "tiny", dest)
    rows = [(0, 0, 0), (0, 1, 1), (1, 1, 0), (1, 0, 2)]
    import_dataset(write_json(tmp_path / "c", rows=rows), "tiny", dest, overwrite=True)
    assert load_dataset("tiny", datasets_root=dest).n_items == 2
    assert [p.name for p in dest.iterdir()] == ["tiny"]


def test_shipped_dataset_is_never_replaced(tmp_path, write_mmrec):
    dest = tmp_path / "root"
    (dest / "tiktok").mkdir(parents=True)
    (dest / "tiktok" / "dataset.json").write_text(json.dumps({"origin": "shipped", "files": {}}))
    with pytest.raises(ConfigError, match="shipped dataset 'tiktok' and is never replaced"):
        import_dataset(write_mmrec(tmp_path / "src"), "tiktok", dest, overwrite=True)


@pytest.mark.parametrize("name", ["", "../x", "a b", "1abc", "x/y"])
def test_name_must_be_simple(tmp_path, write_mmrec, name):
    with pytest.raises(ConfigError, match="invalid dataset name"):
        import_dataset(write_mmrec(tmp_path / "src"), name, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_modified_import_is_refused(tmp_path, write_mmrec):
    target = import_dataset(write_mmrec(tmp_path / "src"), "mine", tmp_path / "root")
    inter = target / "mine.inter"
    inter.write_text(inter.read_text() + "3\t2\t0\n")
    with pytest.raises(DataError, match="mine.inter: sha256 mismatch.*import it again with --overwrite"):
        load_dataset("mine", datasets_root=tmp_path / "root")
