"""Feature-set selection (``--modalities``) through the real ``mmbench`` command, and the content probe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from mmbench.data.catalog import MANIFEST_NAME
from mmbench.data.dataset import Dataset
from mmbench.data.loading import load_dataset
from mmbench.evaluation.content_probe import expected_random_recall, probe
from mmbench.records import load_records
from mmbench.report.leaderboard import row_label
from synthetic import interaction_rows, tiny_dataset


@pytest.fixture
def catalogue(tmp_path: Path, write_mmrec) -> Path:
    """A datasets root holding ``duo``: audio and image feature sets, only ``audio`` by default."""
    dataset = tiny_dataset(audio_dim=5)
    write_mmrec(tmp_path, "duo", rows=interaction_rows(dataset), features=dict(dataset.features))
    loaded = load_dataset(tmp_path / "duo", warn=False)
    manifest = {
        "files": {name: {"sha256": sha} for name, sha in loaded.provenance.file_sha256.items()},
        "origin": "imported",
        "default_modalities": ["audio"],
    }
    (tmp_path / "duo" / MANIFEST_NAME).write_text(json.dumps(manifest))
    return tmp_path


def run(run_main, catalogue: Path, results: Path, *extra: str):
    return run_main(
        "run", "--models", "vbpr", "--dataset", "duo", "--datasets-root", str(catalogue), "--epochs", "1",
        "--set", "batch_size=32", "--threads", "1", "--results", str(results), *extra,
    )


def test_default_run_uses_the_default_feature_sets_and_names_them(run_main, catalogue: Path, tmp_path: Path) -> None:
    result = run(run_main, catalogue, tmp_path / "results")
    assert result.returncode == 0, result.stderr
    [record] = load_records(tmp_path / "results")
    assert record.data["modalities"] == ["audio"]
    assert "modality_selection" not in record.data
    assert row_label(record) == "vbpr [batch_size=32, epochs=1]"


def test_chosen_feature_sets_are_recorded_labelled_and_kept_apart(run_main, catalogue: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    assert run(run_main, catalogue, results).returncode == 0
    chosen = run(run_main, catalogue, results, "--modalities", "image,audio")
    assert chosen.returncode == 0, chosen.stderr
    records = {tuple(r.data["modalities"]): r for r in load_records(results)}
    both = records[("audio", "image")]
    assert both.data["modality_selection"] == ["audio", "image"]
    assert row_label(both) == "vbpr [modalities=audio,image] [batch_size=32, epochs=1]"
    assert both.data["config_digest"] != records[("audio",)].data["config_digest"]
    assert "vbpr [modalities=audio,image]" in chosen.stdout


def test_an_unknown_feature_set_is_refused_with_the_known_ones(run_main, catalogue: Path, tmp_path: Path) -> None:
    result = run(run_main, catalogue, tmp_path / "results", "--modalities", "text")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "mmbench: error: unknown feature set(s) 'text' for dataset 'duo'; it has: audio, image (fix --modalities)"
    )
    assert not (tmp_path / "results").exists()


def test_ablate_removes_one_of_the_chosen_feature_sets_per_variant(run_main, catalogue: Path, tmp_path: Path) -> None:
    result = run_main(
        "ablate", "--model", "vbpr", "--dataset", "duo", "--datasets-root", str(catalogue), "--seeds", "1",
        "--modalities", "audio,image", "--variants", "w/o-image", "--epochs", "1", "--threads", "1",
        "--results", str(tmp_path / "results"),
    )
    assert result.returncode == 0, result.stderr
    [record] = load_records(tmp_path / "results")
    assert record.data["variant"] == "w/o-image" and record.data["modalities"] == ["audio"]
    assert record.data["modality_selection"] == ["audio", "image"]


def test_tune_names_its_study_by_the_chosen_feature_sets(run_main, catalogue: Path, tmp_path: Path) -> None:
    result = run_main(
        "tune", "--model", "vbpr", "--dataset", "duo", "--datasets-root", str(catalogue), "--trials", "1",
        "--epochs", "1", "--modalities", "image", "--threads", "1", "--results", str(tmp_path / "results"),
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "results" / "tuned" / "vbpr-duo-image.json").is_file()


def planted_dataset() -> Dataset:
    """Users like the items of one of four clusters; feature set ``cluster`` encodes the clusters,
    ``noise`` is random."""
    rng = np.random.default_rng(0)
    n_users, n_items, clusters = 60, 40, 4
    cluster_of = np.arange(n_items) % clusters
    splits: dict[str, list[tuple[int, int]]] = {"train": [], "valid": [], "test": []}
    for user in range(n_users):
        items = rng.permutation(np.flatnonzero(cluster_of == user % clusters))
        splits["train"] += [(user, int(i)) for i in items[:6]]
        splits["valid"].append((user, int(items[6])))
        splits["test"].append((user, int(items[7])))

    def matrix(pairs: list[tuple[int, int]]) -> sp.csr_matrix:
        users, items = np.array(pairs).T
        return sp.csr_matrix((np.ones(len(pairs), np.float32), (users, items)), shape=(n_users, n_items))

    cluster = np.eye(clusters, dtype=np.float32)[cluster_of] + 0.01 * rng.random((n_items, clusters), dtype=np.float32)
    return Dataset(
        n_users, n_items, **{name: matrix(pairs) for name, pairs in splits.items()},
        features={"cluster": cluster, "noise": rng.random((n_items, 8), dtype=np.float32)},
    )


def test_content_probe_finds_the_signal_and_falls_to_random_when_the_rows_are_shuffled() -> None:
    dataset = planted_dataset()
    recall = {row.name: row.metrics["recall@20"] for row in probe(dataset, ks=(20,), k=5, shuffled_control=True)}
    chance = expected_random_recall(dataset, "test", "standard", 20)
    assert recall["random (expected)"] == pytest.approx(chance) == pytest.approx(20 / (40 - 7))
    assert recall["cluster"] == 1.0
    assert recall["cluster (rows shuffled)"] < 0.9
    assert recall["noise"] < 0.9
    assert list(recall) == [
        "cluster", "cluster (rows shuffled)", "noise", "noise (rows shuffled)", "popularity", "random (expected)",
    ]


def test_probe_command_refuses_an_unknown_feature_set(run_main) -> None:
    result = run_main("datasets", "probe", "lfm2k", "--modalities", "image")
    assert result.returncode == 2
    assert "unknown feature set(s) 'image' for dataset 'lfm2k'; it has: audio, audio_whisper, text" in result.stderr
