"""The MMSSL paper's table row for row: ranks, rank correlation and flipped pairs with their tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fake_runs import write_run
from mmbench.records import load_records
from mmbench.report.paper_table import paper_table_section, ranks
from mmbench.report.reproduction import NOTES, render_reproduction


def hits(rate: float, n: int = 400, seed: int = 0) -> np.ndarray:
    """Per-user recall@20 of one test item: 1 for a hit, 0 otherwise, at about ``rate``."""
    return (np.random.default_rng(seed).random(n) < rate).astype(np.float32)


def write_model(results, model: str, rate: float, dataset: str = "tiktok", seeds=(1, 2)) -> None:
    for seed in seeds:
        values = hits(rate, seed=seed)
        write_run(results, model, seed, {"recall@20": values, "ndcg@20": values / 2}, dataset=dataset)


def test_ranks_put_the_highest_first_and_share_ties() -> None:
    assert ranks([0.1, 0.3, 0.2, 0.3]) == [4, 1, 3, 1]


def test_rows_follow_the_paper_order_with_ranks_and_a_flip_tested(tmp_path) -> None:
    # Published R@20: mf_bpr 0.0346 < lightgcn 0.0653 < lattice 0.0843 < mmssl 0.0921.
    write_model(tmp_path, "mf_bpr", 0.05)
    write_model(tmp_path, "lightgcn", 0.30)  # ours: LightGCN clearly above LATTICE and MMSSL
    write_model(tmp_path, "lattice", 0.10)
    write_model(tmp_path, "mmssl", 0.12)
    text = "\n".join(paper_table_section(load_records(tmp_path), "tiktok"))
    order = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert order == ["MF-BPR", "NGCF", "LightGCN", "VBPR", "MMGCN", "GRCN", "LATTICE", "SLMRec", "MMSSL"]
    ngcf = next(line for line in text.splitlines() if line.startswith("| NGCF"))
    assert "not run" in ngcf
    assert "over the 4 rows with runs" in text
    flips = [line for line in text.splitlines() if " over " in line and line.startswith("|")]
    assert {line.split("|")[1].strip() for line in flips} == {"LightGCN over LATTICE", "LightGCN over MMSSL"}
    # 0.30 against 0.10 over 400 users is far beyond noise.
    p_values = [float(line.split("|")[4]) for line in flips]
    assert all(p < 1e-6 for p in p_values)


def test_agreeing_rankings_have_no_flips_and_correlation_one(tmp_path) -> None:
    for model, rate in (("mf_bpr", 0.02), ("lightgcn", 0.1), ("lattice", 0.2), ("mmssl", 0.3)):
        write_model(tmp_path, model, rate)
    text = "\n".join(paper_table_section(load_records(tmp_path), "tiktok"))
    assert "Spearman's rho 1.00" in text
    assert "No pair of rows changes order" in text


def test_runs_with_overrides_or_other_protocols_do_not_count(tmp_path) -> None:
    values = hits(0.2)
    write_run(tmp_path, "lattice", 1, {"recall@20": values, "ndcg@20": values}, overrides={"epochs": 1})
    write_run(tmp_path, "lightgcn", 1, {"recall@20": values, "ndcg@20": values}, protocol="standard")
    assert paper_table_section(load_records(tmp_path), "tiktok") == []


def test_reproduction_report_shows_the_id_only_rows_on_baby(tmp_path) -> None:
    write_model(tmp_path, "mf_bpr", 0.05, dataset="baby")
    write_model(tmp_path, "lightgcn", 0.08, dataset="baby")
    text = render_reproduction(load_records(tmp_path), "mmbench report")
    section = text.split("## The MMSSL paper's main table on baby, row for row")[1].split("\n## ")[0]
    names = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ") and "`" in line]
    assert names == ["MF-BPR", "NGCF", "LightGCN"]
    assert "too few for a rank correlation" in section


def test_later_work_anchors_are_shown_with_their_source(tmp_path) -> None:
    write_model(tmp_path, "bm3", 0.09)
    write_model(tmp_path, "lgmrec", 0.07)
    text = render_reproduction(load_records(tmp_path), "mmbench report")
    bm3 = next(line for line in text.splitlines() if line.startswith("| bm3"))
    lgmrec = next(line for line in text.splitlines() if line.startswith("| lgmrec"))
    assert "0.0957" in bm3 and "0.0404" in bm3
    assert "0.0709" in lgmrec and "0.0279" in lgmrec
    assert "`bm3`: DiffMM paper (Jiang et al., ACM MM 2024), Table 1" in text
    assert "`lgmrec`: LGMRec run through the MMRec code" in text


def test_every_notes_file_the_report_points_to_exists() -> None:
    root = Path(__file__).resolve().parents[1]
    assert [path for path in NOTES.values() if not (root / path).is_file()] == []
