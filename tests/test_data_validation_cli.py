"""Every validation error, triggered one at a time through ``mmbench datasets validate``.

Each case writes one broken folder and checks the command's outcome: exit status 2, exactly one
``mmbench: error:`` line naming the file and the line / key / row, and no traceback. All cases
run through the CLI's ``main`` in this process, and again as real ``python -m mmbench`` processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

HEADER = "userID\titemID\tx_label\n"


@dataclass(frozen=True)
class Case:
    """How to break a folder (returns the CLI arguments) and what the error must say."""

    build: Callable[[Path, Callable, Callable, tuple, dict], list[str]]
    expected: tuple[str, ...]


def _inter(rows) -> str:
    return HEADER + "".join("\t".join(map(str, row)) + "\n" for row in rows)


def _validate(folder: Path) -> list[str]:
    return ["datasets", "validate", str(folder)]


def _mmrec(**kwargs) -> Callable:
    """A case builder that writes an MMRec folder with the given writer arguments."""

    def build(root, write_mmrec, write_json, rows, features):
        options = {key: value(rows, features) for key, value in kwargs.items()}
        return _validate(write_mmrec(root, **options))

    return build


def _json(**kwargs) -> Callable:
    def build(root, write_mmrec, write_json, rows, features):
        options = {key: value(rows, features) for key, value in kwargs.items()}
        return _validate(write_json(root, **options))

    return build


def _missing_folder(root, *_):
    return _validate(root / "absent")


def _no_dataset(root, *_):
    (root / "data").mkdir()
    (root / "data" / "readme.txt").write_text("hello")
    return _validate(root / "data")


def _json_missing_test(root, write_mmrec, write_json, rows, features):
    folder = write_json(root)
    (folder / "test.json").unlink()
    return _validate(folder)


def _two_inter_files(root, write_mmrec, write_json, rows, features):
    folder = write_mmrec(root)
    (folder / "other.inter").write_text(_inter(rows))
    return _validate(folder)


def _feature_file_not_npy(root, write_mmrec, write_json, rows, features):
    folder = write_mmrec(root)
    (folder / "image_feat.npy").write_bytes(b"not an array")
    return _validate(folder)


def _feature_of_objects(root, write_mmrec, write_json, rows, features):
    folder = write_mmrec(root)
    np.save(folder / "image_feat.npy", np.array([[1], ["a"]] * 2 + [[2]], dtype=object))
    return _validate(folder)


def _with_row(rows, extra):
    return list(rows) + [extra]


def _train_json(text: str) -> Callable:
    return _json(documents=lambda r, f: {"train.json": text})


CASES: dict[str, Case] = {
    "missing_folder": Case(_missing_folder, ("absent", "does not exist")),
    "no_dataset": Case(_no_dataset, ("no dataset found", ".inter", "train.json", "readme.txt")),
    "missing_column": Case(
        _mmrec(text=lambda r, f: "userID\titemID\tlabel\n0\t0\t0\n"),
        ("tiny.inter", "missing column(s) x_label", "'label'", "required: userID, itemID, x_label"),
    ),
    "non_integer_id": Case(
        _mmrec(text=lambda r, f: _inter(r[:2]) + "1\tabc\t0\n" + _inter(r[2:])[len(HEADER):]),
        ("tiny.inter line 4", "itemID is 'abc'", "not a non-negative integer"),
    ),
    "negative_id": Case(
        _mmrec(text=lambda r, f: _inter(r[:1]) + "-1\t2\t0\n" + _inter(r[1:])[len(HEADER):]),
        ("tiny.inter line 3", "userID is '-1'"),
    ),
    "bad_x_label": Case(
        _mmrec(rows=lambda r, f: r[:3] + ((0, 2, 3),) + r[4:]),
        ("tiny.inter line 5", "x_label is 3", "expected 0 (train), 1 (valid) or 2 (test)"),
    ),
    "users_not_contiguous": Case(
        _mmrec(rows=lambda r, f: [(5 if u == 3 else u, i, x) for u, i, x in r]),
        ("tiny.inter", "user ids are not contiguous: 2 of 0..5 never appear (first: 3)",
         "re-index users to 0..n-1"),
    ),
    "items_not_contiguous": Case(
        _mmrec(rows=lambda r, f: [(u, 7 if i == 0 else i, x) for u, i, x in r]),
        ("tiny.inter", "item ids are not contiguous: 3 of 0..7 never appear (first: 0)"),
    ),
    "duplicate_in_split": Case(
        _mmrec(rows=lambda r, f: _with_row(r, (1, 1, 0))),
        ("duplicate train interaction: user 1, item 1", "tiny.inter line 7",
         "tiny.inter line 19"),
    ),
    "pair_in_two_splits": Case(
        _mmrec(rows=lambda r, f: _with_row(r, (1, 1, 2))),
        ("user 1, item 1 is in train at", "tiny.inter line 7", "and in test at",
         "tiny.inter line 19", "one split only"),
    ),
    "item_without_feature_row": Case(
        _mmrec(features=lambda r, f: {"image": f["image"][:4]}),
        ("tiny.inter line 4", "item 4 has no feature row", "image_feat.npy has 4 rows"),
    ),
    "feature_rows_disagree": Case(
        _mmrec(features=lambda r, f: {**f, "audio": np.zeros((6, 2), np.float32)}),
        ("audio_feat.npy has 6 rows", "image_feat.npy has 5 rows", "one row per item"),
    ),
    "nan_in_features": Case(
        _mmrec(features=lambda r, f: {"image": np.where(
            np.arange(15).reshape(5, 3) % 7 == 6, np.nan, f["image"])}),
        ("image_feat.npy", "2 NaN or Inf value(s) in 2 row(s)", "image features",
         "first: row 2"),
    ),
    "inf_after_float32_cast": Case(
        _mmrec(features=lambda r, f: {"text": np.full((5, 2), 1e39)}),
        ("text_feat.npy", "10 NaN or Inf value(s) in 5 row(s)", "first: row 0", "float32"),
    ),
    "feature_not_2d": Case(
        _mmrec(features=lambda r, f: {"image": np.zeros(5, np.float32)}),
        ("image_feat.npy", "must be 2-D", "(5,)"),
    ),
    "feature_of_objects": Case(
        _feature_of_objects, ("image_feat.npy", "not a readable numeric .npy array")
    ),
    "feature_not_numeric": Case(
        _mmrec(features=lambda r, f: {"image": np.array([["a"]] * 5)}),
        ("image_feat.npy", "must be numeric", "<U1"),
    ),
    "empty_split": Case(
        _mmrec(rows=lambda r, f: [row for row in r if row[2] != 2]),
        ("tiny.inter (x_label 2)", "the test split has no interactions"),
    ),
    "json_user_beyond_train": Case(
        _json(documents=lambda r, f: {"val.json": '{"0": [2], "1": [3], "9": [4], "3": [0]}'}),
        ("val.json", 'user "9" is beyond the users of train.json (0..3', "key in train.json"),
    ),
    "json_missing_file": Case(_json_missing_test, ("tiny_json", "missing test.json")),
    "json_duplicate_in_split": Case(
        _json(rows=lambda r, f: _with_row(r, (0, 2, 1))),
        ('duplicate valid interaction: user 0, item 2', 'val.json, user "0", position 0',
         'val.json, user "0", position 1'),
    ),
    "json_bad_item": Case(
        _json(documents=lambda r, f: {"train.json": '{"0": [0, "x"], "1": [1], "2": [2], "3": [3]}'}),
        ('train.json, user "0", position 1', 'item "x" is not a non-negative integer'),
    ),
    "wrong_field_count": Case(
        _mmrec(text=lambda r, f: _inter(r[:4]) + "1\t1\t0\t9\n" + _inter(r[4:])[len(HEADER):]),
        ("tiny.inter line 6", "4 tab-separated fields, but the header has 3"),
    ),
    "empty_inter_file": Case(_mmrec(text=lambda r, f: ""), ("tiny.inter", "empty")),
    "comma_separated": Case(
        _mmrec(text=lambda r, f: "userID,itemID,x_label\n0,0,0\n"),
        ("tiny.inter", "missing column(s) userID, itemID, x_label", "must be tab-separated"),
    ),
    "two_inter_files": Case(_two_inter_files, ("exactly one <name>.inter", "other.inter, tiny.inter")),
    "feature_file_not_npy": Case(
        _feature_file_not_npy, ("image_feat.npy", "not a .npy file (no NumPy header)")
    ),
    "json_syntax_error": Case(
        _train_json('{"0": [1,}'), ("train.json line 1 column", "not valid JSON")
    ),
    "json_key_not_user_id": Case(
        _train_json('{"u1": [0]}'), ('train.json: key "u1" is not a user id',)
    ),
    "json_not_object": Case(
        _train_json("[1, 2]"), ("train.json: expected a JSON object", "got a JSON list")
    ),
    "json_duplicate_key": Case(
        _train_json('{"0": [0], "1": [1], "0": [4]}'), ('train.json: user "0" appears twice',)
    ),
    "json_bool_item": Case(
        _train_json('{"0": [0, true], "1": [1]}'), ('train.json, user "0", position 1', "item true")
    ),
    "json_value_not_list": Case(
        _train_json('{"0": 3}'), ('train.json, user "0": expected a list of item ids',)
    ),
    "json_pair_in_two_splits": Case(
        _json(rows=lambda r, f: _with_row(r, (0, 0, 2))),
        ("user 0, item 0 is in train at", 'train.json, user "0", position 0',
         'test.json, user "0", position 1'),
    ),
}


def _tiny_features() -> dict[str, np.ndarray]:
    return {
        "image": np.arange(15, dtype=np.float64).reshape(5, 3),
        "audio": np.ones((5, 2), dtype=np.float16),
    }


@pytest.fixture(scope="module")
def in_process(tmp_path_factory, write_mmrec, write_json, tiny_rows, run_main):
    """Build every broken folder and run ``datasets validate`` on each, in this process."""
    return {
        name: run_main(
            *case.build(
                tmp_path_factory.mktemp(name), write_mmrec, write_json, tiny_rows, _tiny_features()
            )
        )
        for name, case in CASES.items()
    }


def _check(case: str, status: int, stderr: str) -> None:
    assert status == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("mmbench: error:")]
    assert len(errors) == 1, stderr
    for text in CASES[case].expected:
        assert text in errors[0], f"{text!r} not in {errors[0]!r}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_reports_one_clear_error(case, in_process):
    result = in_process[case]
    assert result.stdout == ""
    _check(case, result.returncode, result.stderr)


@pytest.mark.parametrize("case", sorted(CASES))
def test_validate_error_through_a_real_process(case, tmp_path, write_mmrec, write_json, run_cli, tiny_rows):
    argv = CASES[case].build(tmp_path, write_mmrec, write_json, tiny_rows, _tiny_features())
    result = run_cli(*argv)
    assert result.stdout == ""
    _check(case, result.returncode, result.stderr)


def test_validate_lists_every_consistency_problem_with_its_place(run_main, tmp_path, write_mmrec, tiny_rows):
    rows = [tuple(row) for row in tiny_rows]
    duplicated = rows + [rows[0]]  # the first pair again, in its own split
    features = _tiny_features()
    features["audio"] = features["audio"].copy()
    features["audio"][2, 0] = np.nan
    folder = write_mmrec(tmp_path, rows=duplicated, features=features)
    result = run_main("datasets", "validate", str(folder))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "mmbench: error: 2 problems:"
    assert lines[1].startswith("  - duplicate ") and f"line {len(duplicated) + 1}" in lines[1]
    assert lines[2].startswith(f"  - {folder / 'audio_feat.npy'}: 1 NaN or Inf value(s)")


def test_a_line_with_a_missing_field_says_so(run_main, tmp_path, write_mmrec):
    folder = write_mmrec(tmp_path, text=HEADER + "0\t0\t0\n0\t1\n")
    result = run_main("datasets", "validate", str(folder))
    assert result.returncode == 2
    assert "tiny.inter line 3: x_label is empty or missing; every line needs one tab-separated value per header column" in result.stderr


def test_bad_values_in_several_columns_are_listed_together(run_main, tmp_path, write_mmrec):
    folder = write_mmrec(tmp_path, text=HEADER + "0\t0\t0\n0\tx\t0\n1\t1\n")
    result = run_main("datasets", "validate", str(folder))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "mmbench: error: 2 problems:"
    assert "tiny.inter line 3: itemID is 'x'" in lines[1] and "tiny.inter line 4: x_label is empty or missing" in lines[2]
