"""``mmbench ablate`` through the real entry point: variants run as marked records; bad input fails cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthetic import interaction_rows, tiny_dataset


@pytest.fixture
def two_modality_folder(tmp_path: Path, write_mmrec) -> Path:
    dataset = tiny_dataset(audio_dim=5)
    return write_mmrec(tmp_path, "duo", rows=interaction_rows(dataset), features=dict(dataset.features))


def run_records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(results.glob("runs/*/*/*/run.json"))]


def test_ablate_runs_the_chosen_variants_and_marks_each_record(run_cli, two_modality_folder: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = run_cli(
        "ablate", "--model", "mmssl", "--dataset", str(two_modality_folder), "--seeds", "1",
        "--variants", "full,w/o-CL,w/o-audio", "--epochs", "1", "--set", "batch_size=16",
        "--threads", "1", "--results", str(results),
    )
    assert proc.returncode == 0, proc.stderr
    records = run_records(results)
    assert sorted(r["variant"] for r in records) == ["full", "w/o-CL", "w/o-audio"]
    by_variant = {r["variant"]: r for r in records}
    assert by_variant["w/o-CL"]["config"]["cl_rate"] == 0
    assert by_variant["w/o-audio"]["modalities"] == ["image"]
    assert by_variant["full"]["modalities"] == ["audio", "image"]
    assert all("modality_selection" not in r for r in records)
    assert all(r["status"] == "complete" for r in records)
    assert "w/o-audio" in proc.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (("--model", "mmssl", "--variants", "w/o-text"), "unknown variant(s) w/o-text for 'mmssl'; valid variants: full"),
        (("--model", "lightgcn"), "model 'lightgcn' declares no ablation variants"),
        (("--model", "vbpr", "--modalities", "audio"), "model 'vbpr' declares no ablation variants"),
        (("--model", "vbpr", "--modalities", "text"), "unknown feature set(s) 'text' for dataset 'duo'; it has: audio, image"),
        (("--model", "nope"), "unknown model 'nope'"),
    ],
)
def test_ablate_rejects_bad_input_with_one_line(run_cli, two_modality_folder: Path, tmp_path: Path, args, message) -> None:
    proc = run_cli("ablate", "--dataset", str(two_modality_folder), "--results", str(tmp_path / "r"), *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert [line for line in proc.stderr.splitlines() if "error" in line] == [f"mmbench: error: {proc.stderr.split('mmbench: error: ')[1].strip()}"]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()
