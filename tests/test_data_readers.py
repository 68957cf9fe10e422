"""Both on-disk layouts read into the same validated Dataset."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.sparse as sp

from mmbench.data import load_dataset, load_folder
from mmbench.data.checksums import combined_checksum, sha256_file
from mmbench.data.dataset import SPLITS
from mmbench.errors import ConfigError, DataError


HEADER = "userID\titemID\tx_label"


def _expected_matrix(rows, code: int) -> np.ndarray:
    dense = np.zeros((4, 5), dtype=np.float32)
    for user, item, label in rows:
        if label == code:
            dense[user, item] = 1.0
    return dense


def test_mmrec_and_json_layouts_give_the_same_dataset(
    tmp_path, write_mmrec, write_json, tiny_rows, tiny_features
):
    features = tiny_features
    from_mmrec = load_folder(write_mmrec(tmp_path, features=features))
    from_json = load_folder(write_json(tmp_path, features=features))
    for dataset in (from_mmrec, from_json):
        assert (dataset.n_users, dataset.n_items) == (4, 5)
        for code, split in enumerate(SPLITS):
            matrix = dataset.split(split)
            assert isinstance(matrix, sp.csr_matrix)
            assert matrix.dtype == np.float32 and matrix.has_sorted_indices
            np.testing.assert_array_equal(matrix.toarray(), _expected_matrix(tiny_rows, code))
        assert dataset.modalities == ("audio", "image")
        for modality, values in features.items():
            assert dataset.features[modality].dtype == np.float32
            np.testing.assert_array_equal(dataset.features[modality], values.astype(np.float32))
    assert from_mmrec.provenance.layout == "mmrec"
    assert from_json.provenance.layout == "json"


def test_provenance_hashes_the_files_read(tmp_path, write_mmrec, tiny_features):
    folder = write_mmrec(tmp_path, features=tiny_features)
    provenance = load_folder(folder).provenance
    expected = {path.name: sha256_file(path) for path in folder.iterdir()}
    assert dict(provenance.file_sha256) == expected
    assert provenance.checksum == combined_checksum(expected)
    assert provenance.name == "tiny" and provenance.path == str(folder.resolve())
    assert provenance.shipped is False


def test_extra_columns_are_ignored(tmp_path, write_mmrec, tiny_rows):
    text = "rating\t" + HEADER + "\ttimestamp\n" + "".join(
        f"5\t{u}\t{i}\t{x}\t1700000000\n" for u, i, x in tiny_rows
    )
    dataset = load_folder(write_mmrec(tmp_path, text=text))
    assert dataset.train.nnz == sum(1 for row in tiny_rows if row[2] == 0)


def test_json_users_with_empty_lists_are_kept(tmp_path, write_json):
    # user 4 has a key in train.json with no items and nothing elsewhere
    folder = write_json(tmp_path)
    train = (folder / "train.json").read_text()
    (folder / "train.json").write_text(train[:-1] + ', "4": []}')
    dataset = load_folder(folder, warn=False)
    assert dataset.n_users == 5
    assert np.diff(dataset.train.indptr)[4] == 0


def test_items_come_from_feature_rows(tmp_path, write_mmrec, tiny_rows, tiny_features):
    rows = [row for row in tiny_rows if row[1] != 4]  # item 4 has only a feature row
    with pytest.raises(DataError, match=r"item ids are not contiguous: 1 of 0..4 never appear"):
        load_folder(write_mmrec(tmp_path, rows=rows, features=tiny_features))


def test_warnings_count_users_without_train_and_cold_items(tmp_path, write_mmrec, tiny_rows, caplog):
    rows = [row for row in tiny_rows if not (row[0] == 3 and row[2] == 0)]  # user 3: no train
    rows = [row for row in rows if not (row[1] == 0 and row[2] == 0)]  # item 0: cold
    with caplog.at_level(logging.WARNING, logger="mmbench.data"):
        load_folder(write_mmrec(tmp_path, rows=rows))
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 3
    assert messages[2].endswith("fewer than the largest default cut-off K=50; run and evaluate with smaller cut-offs, for example --ks 5 --set metric=recall@5")
    assert messages[0].startswith("tiny: 1 of 4 users have no training interaction (e.g. users 3)")
    assert messages[1].startswith("tiny: 1 of 5 items never appear in train (cold items, e.g. items 0)")


def test_folder_with_both_layouts_is_rejected(tmp_path, write_mmrec):
    folder = write_mmrec(tmp_path)
    (folder / "train.json").write_text("{}")
    with pytest.raises(DataError, match="keep one layout per folder"):
        load_folder(folder)


def test_unknown_name_lists_the_catalogue(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown dataset 'nosuch'.*known: baby, lfm2k, tiktok.*folder"):
        load_dataset("nosuch")


def test_path_spec_is_read_as_folder(tmp_path, write_mmrec):
    folder = write_mmrec(tmp_path)
    assert load_dataset(folder).n_users == 4
    assert load_dataset(str(folder)).n_items == 5
