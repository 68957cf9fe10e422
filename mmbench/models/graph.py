"""Sparse user-item graph operators shared by the graph-based models.

Graphs are torch sparse CSR tensors: on CPU their products with dense embeddings (forward and
backward) measured about 1.4x faster than COO on the TikTok graph.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch


def symmetric_bipartite_adjacency(train: sp.csr_matrix) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the (users + items) bipartite graph, as a torch sparse CSR tensor.

    Node ids: users 0..U-1, items U..U+I-1. Isolated nodes (users without training items, cold
    items) get zero rows instead of a division by zero.
    """
    n_users, n_items = train.shape
    binary = (train > 0).astype(np.float32).tocsr()
    adjacency = sp.bmat([[None, binary], [binary.T, None]], format="csr", dtype=np.float32)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    nonzero = degree > 0
    inv_sqrt[nonzero] = degree[nonzero] ** -0.5
    scaling = sp.diags(inv_sqrt)
    normalised = (scaling @ adjacency @ scaling).tocsr().astype(np.float32)
    normalised.sort_indices()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(normalised.indptr.astype(np.int64)),
            torch.from_numpy(normalised.indices.astype(np.int64)),
            torch.from_numpy(normalised.data),
            size=normalised.shape,
            check_invariants=False,
        )
