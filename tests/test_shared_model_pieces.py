"""Shared pieces the graph models build on: edge-list adjacency, binary kNN graphs, InfoNCE, the
regularised BPR loss."""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch

from mmbench.models.graph import edge_bipartite_adjacency, symmetric_bipartite_adjacency, training_edges
from mmbench.models.knn import knn_graph, symmetric_normalise, unweighted
from mmbench.models.base import BprBatch
from mmbench.models.losses import info_nce, regularised_bpr


def random_train(n_users: int = 12, n_items: int = 15, seed: int = 0) -> sp.csr_matrix:
    matrix = sp.random(n_users, n_items, density=0.25, format="csr", random_state=seed, dtype=np.float32)
    matrix.data[:] = 1.0
    return matrix


def test_training_edges_are_the_nonzeros_in_row_major_order() -> None:
    train = random_train()
    users, items = training_edges(train)
    rows, cols = train.nonzero()
    assert sorted(zip(rows.tolist(), cols.tolist())) == list(zip(users.tolist(), items.tolist()))


def test_edge_adjacency_of_all_training_edges_equals_the_scipy_one() -> None:
    train = random_train()
    users, items = training_edges(train)
    built = edge_bipartite_adjacency(users, items, *train.shape)
    assert built.layout == torch.sparse_csr
    assert torch.allclose(built.to_dense(), symmetric_bipartite_adjacency(train).to_dense(), atol=1e-7)


def test_edge_adjacency_weights_and_isolated_nodes() -> None:
    users = torch.tensor([0, 0, 1])
    items = torch.tensor([0, 1, 1])
    values = torch.tensor([1.0, 3.0, 1.0])
    dense = edge_bipartite_adjacency(users, items, 3, 3, values).to_dense()
    degree = torch.tensor([4.0, 1.0, 0.0, 1.0, 4.0, 0.0])  # user 2 and item 2 are isolated
    assert dense[0, 3 + 1] == 3.0 / math.sqrt(degree[0] * degree[4])
    assert torch.equal(dense, dense.T)
    assert dense[2].abs().sum() == 0 and dense[5].abs().sum() == 0
    assert torch.isfinite(dense).all()


def test_unweighted_knn_normalises_to_one_over_k() -> None:
    features = torch.randn(20, 4)
    graph = symmetric_normalise(unweighted(knn_graph(features, 5)))
    assert torch.equal(graph.indices, knn_graph(features, 5).indices)
    assert torch.allclose(graph.weights, torch.full((20, 5), 0.2))


def test_info_nce_rewards_matching_rows_and_is_invariant_to_scale() -> None:
    torch.manual_seed(0)
    view = torch.randn(16, 8)
    aligned = info_nce(view, 3.0 * view, temperature=0.2)
    shuffled = info_nce(view, view[torch.randperm(16)], temperature=0.2)
    assert aligned < shuffled
    assert torch.isclose(aligned, info_nce(view, view, temperature=0.2))
    # With random views every row is a guess among 16: the loss is near log(16) at a high temperature.
    assert abs(float(info_nce(view, torch.randn(16, 8), temperature=100.0)) - math.log(16)) < 0.01


def test_regularised_bpr_by_hand() -> None:
    users_all = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    items_all = torch.tensor([[1.0, 1.0], [0.0, 0.0], [3.0, 0.0]])
    batch = BprBatch(users=torch.tensor([0, 1]), pos_items=torch.tensor([0, 0]), neg_items=torch.tensor([2, 1]))
    parts = regularised_bpr(users_all, items_all, batch, reg_weight=0.5)
    # Scores: user 0 gives pos 1, neg 3; user 1 gives pos 2, neg 0.
    expected_bpr = (math.log1p(math.exp(3.0 - 1.0)) + math.log1p(math.exp(0.0 - 2.0))) / 2
    # Squared norms of the rows: users 1 + 4, positives 2 + 2, negatives 9 + 0; half their sum over 2 rows.
    expected_reg = 0.5 * (5.0 + 4.0 + 9.0) / (2 * 2)
    assert list(parts) == ["bpr", "reg"]
    assert math.isclose(float(parts["bpr"]), expected_bpr, rel_tol=1e-6)
    assert math.isclose(float(parts["reg"]), expected_reg, rel_tol=1e-6)
