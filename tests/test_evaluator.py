"""Tests of the batched evaluator: hand-computed goldens, a per-user reference, error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmbench.data.dataset import Dataset, Provenance
from mmbench.errors import ConfigError, DataError, MMBenchError, TrainingError
from mmbench.evaluation.evaluator import Evaluator, evaluate_score_matrix

PER_USER = ("hit", "map", "mrr", "ndcg", "precision", "recall")


def _csr(n_users: int, n_items: int, rows: dict[int, list[int]]) -> sp.csr_matrix:
    users = [u for u, items in rows.items() for _ in items]
    items = [i for its in rows.values() for i in its]
    data = np.ones(len(items), dtype=np.float32)
    return sp.csr_matrix((data, (users, items)), shape=(n_users, n_items), dtype=np.float32)


def _dataset(
    n_users: int, n_items: int, train: dict, valid: dict, test: dict, name: str = "toy"
) -> Dataset:
    provenance = Provenance(name=name, path="", layout="", file_sha256={}, checksum="")
    return Dataset(
        n_users=n_users,
        n_items=n_items,
        train=_csr(n_users, n_items, train),
        valid=_csr(n_users, n_items, valid),
        test=_csr(n_users, n_items, test),
        provenance=provenance,
    )


# --- masking -------------------------------------------------------------------------------------
# u0: train {0}, valid {1}, test {2}; scores rank items 0, 1, 2, 3, 4.
# u1: nothing in any split: never evaluated.
# u2: valid {0}, test {4}; scores rank items 4, 3, 2, 1, 0.
MASKING = _dataset(3, 5, train={0: [0]}, valid={0: [1], 2: [0]}, test={0: [2], 2: [4]})
MASKING_SCORES = np.array(
    [[0.9, 0.8, 0.7, 0.6, 0.5], [0.5, 0.5, 0.5, 0.5, 0.5], [0.1, 0.2, 0.3, 0.4, 0.5]],
    dtype=np.float32,
)


def test_standard_test_masks_train_and_valid():
    result = evaluate_score_matrix(MASKING_SCORES, MASKING, "test", "standard", ks=(1, 2))
    assert result.users.tolist() == [0, 2]  # u1 has no test item
    assert result.users.dtype == np.int64
    # u0: items 0 (train) and 1 (valid) masked -> top [2, 3], hit at rank 1.
    # u2: item 0 (valid) masked -> top [4, 3], hit at rank 1.
    assert result.per_user["recall@1"].tolist() == [1.0, 1.0]
    assert result.metrics["ndcg@2"] == pytest.approx(1.0)
    # exposure@2: item 2: 1, item 3: 2, item 4: 1 -> coverage 3/5; gini: sorted [0,0,1,1,2], sum 4,
    # coefficients [-4,-2,0,2,4]: (0*1 + 2*1 + 4*2) / (5 * 4) = 10/20 = 0.5
    assert result.metrics["coverage@2"] == pytest.approx(0.6)
    assert result.metrics["gini@2"] == pytest.approx(0.5)
    # exposure@1: items 2 and 4 once -> coverage 2/5;
    # gini: sorted [0,0,0,1,1], coefficients [-4,-2,0,2,4]: (2*1 + 4*1) / (5*2) = 0.6
    assert result.metrics["coverage@1"] == pytest.approx(0.4)
    assert result.metrics["gini@1"] == pytest.approx(0.6)


def test_lattice_test_leaves_valid_items_rankable():
    result = evaluate_score_matrix(MASKING_SCORES, MASKING, "test", "lattice", ks=(1, 2))
    # u0: only item 0 masked -> top [1, 2]: the valid item 1 takes rank 1, test item 2 is at rank 2.
    assert result.per_user["recall@1"].tolist() == [0.0, 1.0]
    assert result.per_user["recall@2"].tolist() == [1.0, 1.0]
    # u0 ndcg@2 = (1/log2 3) / 1 (h = 1) = 0.6309298; u2 = 1; mean = 0.8154649
    assert result.per_user["ndcg@2"][0] == pytest.approx(0.6309298, abs=1e-7)
    assert result.metrics["ndcg@2"] == pytest.approx(0.8154649, abs=1e-7)
    assert result.metrics["mrr@2"] == pytest.approx(0.75)  # (1/2 + 1) / 2
    # exposure@2: u0 [1, 2], u2 [4, 3] -> counts [0,1,1,1,1]: coverage 4/5;
    # gini: coefficients [-4,-2,0,2,4] on [0,1,1,1,1]: (-2 + 0 + 2 + 4) / (5 * 4) = 0.2
    assert result.metrics["coverage@2"] == pytest.approx(0.8)
    assert result.metrics["gini@2"] == pytest.approx(0.2)


@pytest.mark.parametrize("protocol", ["standard", "lattice"])
def test_validation_masks_train_only(protocol):
    result = evaluate_score_matrix(MASKING_SCORES, MASKING, "valid", protocol, ks=(1, 2))
    # u0: item 0 masked -> top [1, 2], valid item 1 at rank 1. u2: top [4, 3], valid item 0 is last.
    assert result.users.tolist() == [0, 2]
    assert result.per_user["hit@2"].tolist() == [1.0, 0.0]
    assert result.metrics["recall@2"] == pytest.approx(0.5)
    assert result.split == "valid" and result.protocol == protocol and result.ks == (1, 2)


def test_masked_items_are_never_hits_nor_exposed():
    # Item 0 is in train and (inconsistently) in test: masked, so it can never count as a hit.
    # Only item 2 is rankable; the top 3 is [2, then the masked 0 and 1 at -inf filling the list].
    data = _dataset(1, 3, train={0: [0, 1]}, valid={}, test={0: [0, 2]})
    result = evaluate_score_matrix(np.array([[3.0, 2.0, 1.0]]), data, "test", ks=(3,))
    assert result.metrics["recall@3"] == pytest.approx(0.5)  # 1 hit (item 2) / |T_u| = 2
    assert result.metrics["precision@3"] == pytest.approx(1 / 3)
    assert result.metrics["coverage@3"] == pytest.approx(1 / 3)  # only item 2 was shown


# --- ties ----------------------------------------------------------------------------------------
# Equal scores rank by ascending item id. ks = (1, 2, 3), so max(Ks) = 3.
# u0: items 3, 4, 5 tie at the top, test {3}: top [3, 4, 5]; the tie straddles K = 1 and K = 2.
# u1: scores [2, 1, 0, 1, 0, 0], test {3}: top [0, 1, 3]; items 1 and 3 tie across K = 2.
# u2: scores [3, 2, 1, 1, 0, 0], test {3}: top [0, 1, 2]; items 2 and 3 tie across max(Ks) = 3 and
#     rank 4, a tie only visible one rank past the list.
TIES = _dataset(3, 6, train={}, valid={}, test={0: [3], 1: [3], 2: [3]})
TIES_SCORES = np.array(
    [[0, 0, 0, 1, 1, 1], [2, 1, 0, 1, 0, 0], [3, 2, 1, 1, 0, 0]], dtype=np.float32
)


@pytest.mark.parametrize("protocol", ["standard", "lattice"])
@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_ties_rank_by_ascending_item_id(protocol, batch_size):
    result = evaluate_score_matrix(
        TIES_SCORES, TIES, "test", protocol, ks=(1, 2, 3), batch_size=batch_size
    )
    assert result.per_user["hit@1"].tolist() == [1.0, 0.0, 0.0]
    assert result.per_user["hit@2"].tolist() == [1.0, 0.0, 0.0]
    assert result.per_user["hit@3"].tolist() == [1.0, 1.0, 0.0]
    assert result.per_user["mrr@3"].tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    # u1: hit at rank 3 only: standard and lattice ideal both 1 item -> ndcg@3 = 1/log2(4) = 0.5
    assert result.per_user["ndcg@3"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    # exposure@3: u0 {3,4,5}, u1 {0,1,3}, u2 {0,1,2}: every item shown -> coverage 1;
    # counts [2,2,1,2,1,1] sorted [1,1,1,2,2,2], coefficients [-5,-3,-1,1,3,5]:
    # (-5-3-1+2+6+10) / (6 * 9) = 9/54 = 1/6
    assert result.metrics["coverage@3"] == pytest.approx(1.0)
    assert result.metrics["gini@3"] == pytest.approx(1 / 6)


def test_ties_when_max_k_is_the_whole_catalogue():
    # max(Ks) = n_items = 3, so no extra rank is retrieved; all three scores tie -> order [0, 1, 2].
    data = _dataset(1, 3, train={}, valid={}, test={0: [1]})
    result = evaluate_score_matrix(np.zeros((1, 3)), data, "test", ks=(1, 3))
    assert result.per_user["mrr@3"].tolist() == [0.5]
    assert result.per_user["hit@1"].tolist() == [0.0]


# --- the example of the protocol description ------------------------------------------------------
def test_protocol_example_lattice_vs_standard():
    # Item i is ranked i + 1. |T_u| = 5, at ranks 3, 30, 56, 57, 58: two hits in the top 50.
    data = _dataset(1, 60, train={}, valid={}, test={0: [2, 29, 55, 56, 57]})
    scores = -np.arange(60, dtype=np.float32)[None, :]
    standard = evaluate_score_matrix(scores, data, "test", "standard", ks=(20, 50))
    lattice = evaluate_score_matrix(scores, data, "test", "lattice", ks=(20, 50))
    # standard: (1/log2 4) / sum_{k=1..5} 1/log2(k+1) = 0.5 / 2.9484591 = 0.1695801
    assert standard.metrics["ndcg@20"] == pytest.approx(0.1695801, abs=1e-7)
    # lattice: (1/log2 4) / (1 + 1/log2 3) = 0.5 / 1.6309298 = 0.3065736
    assert lattice.metrics["ndcg@20"] == pytest.approx(0.3065736, abs=1e-7)
    assert (
        standard.metrics["recall@50"] == lattice.metrics["recall@50"] == pytest.approx(0.4)
    )  # 2/5


# --- the scorer interface ------------------------------------------------------------------------
def test_scorer_gets_batches_of_evaluated_users():
    seen: list[list[int]] = []
    scores = torch.from_numpy(MASKING_SCORES)

    def scorer(users: torch.Tensor) -> torch.Tensor:
        assert users.dtype == torch.int64
        seen.append(users.tolist())
        return scores[users]

    result = Evaluator(MASKING, "test", "standard", ks=(1,), batch_size=1).evaluate(scorer)
    assert seen == [[0], [2]]
    assert set(result.per_user) == {f"{name}@1" for name in PER_USER}
    assert set(result.metrics) == set(result.per_user) | {"coverage@1", "gini@1"}
    assert result.seconds >= 0.0


def test_scorer_output_is_not_modified():
    # A scorer may hand out its own cached tensor; masking must not write into it.
    cached = torch.from_numpy(MASKING_SCORES[[0, 2]].copy())  # rows of the evaluated users 0 and 2
    Evaluator(MASKING, "test", ks=(1,)).evaluate(lambda users: cached)
    assert torch.equal(cached, torch.from_numpy(MASKING_SCORES[[0, 2]]))


def test_scorer_non_finite_scores_name_the_users():
    def scorer(users: torch.Tensor) -> torch.Tensor:
        out = torch.from_numpy(MASKING_SCORES)[users].clone()
        out[:, 1] = float("nan")
        return out

    with pytest.raises(
        TrainingError, match=r"NaN or infinite scores for 2 of 2 users .*user ids 0, 2"
    ):
        Evaluator(MASKING, "test", ks=(1,)).evaluate(scorer)


def test_scorer_wrong_shape():
    with pytest.raises(MMBenchError, match=r"scorer returned \(2, 4\) .* shape \(2, 5\)"):
        Evaluator(MASKING, "test", ks=(1,)).evaluate(lambda users: torch.zeros(len(users), 4))


# --- configuration and data errors ---------------------------------------------------------------
def test_empty_split_is_an_error():
    data = _dataset(2, 3, train={0: [0]}, valid={}, test={1: [2]}, name="tiny")
    with pytest.raises(DataError, match="split 'valid' of dataset 'tiny' is empty"):
        Evaluator(data, "valid", ks=(1,))


def test_bad_configuration():
    with pytest.raises(ConfigError, match="larger than the catalogue"):
        Evaluator(MASKING, "test", ks=(2, 10))
    with pytest.raises(ConfigError, match="positive integers"):
        Evaluator(MASKING, "test", ks=(0, 2))
    with pytest.raises(ConfigError, match="positive integers"):
        Evaluator(MASKING, "test", ks=())
    with pytest.raises(ConfigError, match="evaluation splits are: valid, test"):
        Evaluator(MASKING, "train")
    with pytest.raises(ConfigError, match="valid protocols: lattice, standard"):
        Evaluator(MASKING, "test", protocol="latice")
    with pytest.raises(ConfigError, match="batch_size"):
        Evaluator(MASKING, "test", ks=(1,), batch_size=0)


def test_score_matrix_wrong_shape():
    data = _dataset(3, 5, train={}, valid={}, test={0: [1]}, name="tiktok")
    with pytest.raises(DataError) as error:
        evaluate_score_matrix(np.zeros((3, 4), dtype=np.float32), data)
    assert str(error.value) == (
        "scores have shape (3, 4) but dataset 'tiktok' has 3 users x 5 items; "
        "save a float matrix of shape (n_users, n_items) with row u = user u"
    )


@pytest.mark.parametrize(
    "bad", [np.full((3, 5), "x"), np.zeros((3, 5), dtype=bool), np.zeros((3, 5), dtype=complex)]
)
def test_score_matrix_wrong_dtype(bad):
    with pytest.raises(DataError, match=r"dtype .* not a real number type; save a float matrix"):
        evaluate_score_matrix(bad, MASKING)


def test_score_matrix_non_finite():
    scores = MASKING_SCORES.copy()
    scores[1, 2] = np.nan  # u1 is not even evaluated: the whole matrix must be valid
    scores[2, 0] = np.inf
    with pytest.raises(
        DataError, match=r"NaN or infinite values in 2 rows \(users 1, 2\); .*np.nan_to_num"
    ):
        evaluate_score_matrix(scores, MASKING)


def test_score_matrix_integer_and_mmap(tmp_path):
    path = tmp_path / "scores.npy"
    np.save(path, (MASKING_SCORES * 10).astype(np.int64))
    result = evaluate_score_matrix(
        np.load(path, mmap_mode="r"), MASKING, "test", "lattice", ks=(1, 2)
    )
    assert result.per_user["recall@1"].tolist() == [0.0, 1.0]


# --- batched evaluator == per-user reference ------------------------------------------------------
def _reference(
    scores, data: Dataset, split: str, protocol: str, ks: tuple[int, ...]
) -> dict[str, list[float]]:
    """Per-user loop: rank unmasked items by (-score, item id), then the textbook formulas."""
    max_k = max(ks)
    masked_splits = ["train"] + (["valid"] if split == "test" and protocol == "standard" else [])
    out: dict[str, list[float]] = {}
    exposure = {k: np.zeros(data.n_items) for k in ks}
    target = data.split(split).tolil().rows
    masks = [data.split(s).tolil().rows for s in masked_splits]
    for u in range(data.n_users):
        relevant = set(target[u])
        if not relevant:
            continue
        masked = set().union(*(m[u] for m in masks))
        candidates = [i for i in range(data.n_items) if i not in masked]
        ranked = sorted(candidates, key=lambda i: (-scores[u, i], i))[:max_k]
        hits = [i in relevant for i in ranked]
        for k in ks:
            for i in ranked[:k]:
                exposure[k][i] += 1
            top = hits[:k]
            n_hits = sum(top)
            values = {
                "recall": n_hits / len(relevant),
                "precision": n_hits / k,
                "hit": float(n_hits > 0),
                "mrr": next((1 / (r + 1) for r, h in enumerate(top) if h), 0.0),
                "map": sum(sum(top[: r + 1]) / (r + 1) for r, h in enumerate(top) if h)
                / min(len(relevant), k),
            }
            n_ideal = min(len(relevant) if protocol == "standard" else sum(hits), k)
            dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(top) if h)
            idcg = sum(1 / math.log2(r + 2) for r in range(n_ideal))
            values["ndcg"] = dcg / idcg if n_ideal else 0.0
            for name, value in values.items():
                out.setdefault(f"{name}@{k}", []).append(value)
    for k, counts in exposure.items():
        out[f"coverage@{k}"] = [float(np.mean(counts > 0))]
        # Gini as mean absolute difference over twice the mean.
        out[f"gini@{k}"] = [
            np.abs(counts[:, None] - counts[None, :]).sum() / (2 * len(counts) ** 2 * counts.mean())
        ]
    return out


@pytest.mark.parametrize("n_users,n_items,seed", [(7, 5, 0), (23, 40, 1), (50, 13, 2)])
@pytest.mark.parametrize("tied", [False, True], ids=["float", "ties"])
def test_batched_equals_per_user_reference(n_users, n_items, seed, tied):
    rng = np.random.default_rng(seed)
    labels = rng.choice(
        4, size=(n_users, n_items), p=[0.5, 0.25, 0.1, 0.15]
    )  # none/train/valid/test
    splits = {
        name: {u: np.flatnonzero(labels[u] == code).tolist() for u in range(n_users)}
        for code, name in ((1, "train"), (2, "valid"), (3, "test"))
    }
    data = _dataset(n_users, n_items, splits["train"], splits["valid"], splits["test"])
    scores = (
        rng.integers(0, 3, (n_users, n_items)).astype(np.float32)
        if tied
        else rng.random((n_users, n_items))
    )
    ks = (1, 3, 5)
    for split in ("valid", "test"):
        for protocol in ("standard", "lattice"):
            expected = _reference(scores, data, split, protocol, ks)
            users = [u for u in range(n_users) if data.split(split)[u].nnz]
            for batch_size in (1, 3, n_users + 5):
                result = evaluate_score_matrix(
                    scores, data, split, protocol, ks, batch_size=batch_size
                )
                assert result.users.tolist() == users
                assert set(result.metrics) == set(expected)
                for key, values in expected.items():
                    if key in result.per_user:
                        np.testing.assert_allclose(
                            result.per_user[key], values, rtol=0, atol=1e-12, err_msg=key
                        )
                    assert result.metrics[key] == pytest.approx(
                        float(np.mean(values)), abs=1e-12
                    ), key
