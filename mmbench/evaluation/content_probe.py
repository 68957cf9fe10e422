"""The content probe: how much one feature set alone says about each user's held-out items.

A feature file whose rows do not line up with the item ids, or that carries no signal, would pass
every format check and still make a multimodal model look bad. The probe scores item ``i`` for user
``u`` by summing the cosine similarities of ``i`` to ``u``'s training items over the item-item kNN
graph of one feature set (LATTICE's graph: ``k`` neighbours, the item itself among them), and ranks
with the shared evaluator. It is no recommender; it only orders feature sets by what they tell, next
to two references: the popularity list (training counts) and the expected value of a random ranking.
With ``shuffled_control`` each feature set is probed a second time with its rows permuted: a set
whose rows line up with the item ids falls to the random level there, and only there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from mmbench.data.dataset import Dataset
from mmbench.evaluation.evaluator import evaluate_score_matrix
from mmbench.evaluation.protocols import get_protocol
from mmbench.models.knn import knn_graph

POPULARITY = "popularity"
RANDOM = "random (expected)"


@dataclass(frozen=True)
class ProbeRow:
    """One scorer's metrics on one split; ``metrics`` holds only ``recall@K`` for the random row."""

    name: str
    metrics: dict[str, float]


SHUFFLE_SEED = 0


def feature_knn_scores(features: np.ndarray, dataset: Dataset, k: int = 10) -> np.ndarray:
    """Scores ``[n_users, n_items]``: each item's summed kNN-graph similarity (over ``features``,
    row i = item i) to the user's training items."""
    graph = knn_graph(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)), k=k)
    seen_by_item = torch.from_numpy(dataset.train.T.toarray().astype(np.float32))
    return graph.matmul(seen_by_item).T.numpy()


def popularity_scores(dataset: Dataset) -> np.ndarray:
    """Every user ranks items by their training interaction count."""
    counts = np.asarray(dataset.train.sum(axis=0), dtype=np.float32).ravel()
    return np.broadcast_to(counts, (dataset.n_users, dataset.n_items))


def expected_random_recall(dataset: Dataset, split: str, protocol: str, k: int) -> float:
    """Mean over the split's users of ``min(k, C_u) / C_u``, with ``C_u`` the items left to rank
    after the protocol's masking: the recall@k a uniformly random ranking has in expectation."""
    masked = sum(dataset.split(name) for name in get_protocol(protocol).masked_splits(split))
    held_out = np.diff(dataset.split(split).indptr) > 0
    rankable = dataset.n_items - np.diff((masked > 0).tocsr().indptr)[held_out]
    return float(np.mean(np.minimum(k, rankable) / rankable))


def probe(
    dataset: Dataset,
    feature_sets: Sequence[str] | None = None,
    split: str = "test",
    protocol: str = "standard",
    k: int = 10,
    ks: Sequence[int] = (10, 20, 50),
    shuffled_control: bool = False,
) -> list[ProbeRow]:
    """The probe of each feature set (default: all the dataset has), then popularity and random.

    With ``shuffled_control``, a row ``<name> (rows shuffled)`` follows each feature set's row.
    """
    names = list(feature_sets) if feature_sets is not None else list(dataset.available_modalities)
    dataset.with_modalities(names)  # refuses unknown names with the list of known ones

    def row(name: str, features: np.ndarray) -> ProbeRow:
        scores = feature_knn_scores(features, dataset, k)
        return ProbeRow(name, evaluate_score_matrix(scores, dataset, split, protocol, ks).metrics)

    permutation = np.random.default_rng(SHUFFLE_SEED).permutation(dataset.n_items)
    rows = []
    for name in names:
        rows.append(row(name, dataset.features[name]))
        if shuffled_control:
            rows.append(row(f"{name} (rows shuffled)", dataset.features[name][permutation]))
    rows.append(ProbeRow(POPULARITY, evaluate_score_matrix(popularity_scores(dataset), dataset, split, protocol, ks).metrics))
    rows.append(ProbeRow(RANDOM, {f"recall@{K}": expected_random_recall(dataset, split, protocol, K) for K in ks}))
    return rows
