"""Sparse k-nearest-neighbour item graphs from item features, built without an n x n matrix.

Multimodal recommenders such as LATTICE link each item to the ``k`` items whose features are most
cosine-similar. Computing the full n x n similarity matrix needs about 16 GB per matrix at 63,001
items (Amazon Elec), so here the similarities are computed for ``block_size`` rows at a time and
only each row's top ``k`` are kept: peak extra memory is ``block_size * n`` similarities and the
result holds ``n * k`` edges.

A graph is a :class:`KnnGraph`: a sparse n x n matrix with exactly ``k`` stored entries per row
(row ``i`` has value ``weights[i, j]`` in column ``indices[i, j]``). That layout multiplies a dense
matrix with one gather, its edge weights can carry gradients (LATTICE learns them), and
:meth:`KnnGraph.to_sparse` turns it into a torch sparse tensor when one is wanted. Every function
works on the device and dtype of the tensors it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class KnnGraph:
    """A sparse n x n matrix, ``k`` entries per row: ``indices`` [n, k] int64, ``weights`` [n, k]."""

    indices: torch.Tensor
    weights: torch.Tensor

    @property
    def n_nodes(self) -> int:
        return self.indices.shape[0]

    def matmul(self, dense: torch.Tensor) -> torch.Tensor:
        """``graph @ dense`` for ``dense`` of shape [n, d]; differentiable in weights and ``dense``.

        A weighted-sum ``embedding_bag`` over each row's neighbours: it never materialises the
        ``n * k * d`` neighbour rows, and unlike torch's sparse products it needs no sparse
        tensor rebuilt from the weights at every step (``benchmarks/sparse_products.py`` times
        the three).
        """
        return F.embedding_bag(self.indices, dense, per_sample_weights=self.weights, mode="sum")

    def to_sparse(self) -> torch.Tensor:
        """The same matrix as a coalesced torch sparse COO tensor of ``n * k`` stored entries."""
        n, k = self.indices.shape
        rows = torch.arange(n, device=self.indices.device).repeat_interleave(k)
        coordinates = torch.stack([rows, self.indices.reshape(-1)])
        values = self.weights.reshape(-1)
        return torch.sparse_coo_tensor(coordinates, values, (n, n), check_invariants=False).coalesce()


def knn_graph(features: torch.Tensor, k: int, block_size: int = 1024) -> KnnGraph:
    """Each item's ``k`` most cosine-similar items (itself included), with the cosines as weights.

    The item itself is kept among its neighbours, as in LATTICE's definition (top-k of the full
    similarity row, whose diagonal is 1). Rows of zeros have similarity 0 to everything.
    Similarities are computed ``block_size`` rows at a time (any size >= 1; a block larger than
    the catalogue is one block), so memory is O(block_size * n + n * k), never n^2.

    The neighbour choice is not differentiable. When ``features`` requires grad (and grad mode is
    on), the weights of the chosen edges are recomputed from the normalised features so that
    gradients reach them; that costs ``n * k * d`` memory for the backward pass.
    """
    n = features.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of items ({n}), got {k}")
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    with torch.no_grad():
        norms = features.norm(dim=1)
        tiny = torch.finfo(norms.dtype).tiny
        inverse_norms = torch.where(norms > 0, 1.0 / norms.clamp_min(tiny), 0.0)
        indices = torch.empty((n, k), dtype=torch.int64, device=features.device)
        weights = torch.empty((n, k), dtype=features.dtype, device=features.device)
        for start in range(0, n, block_size):
            stop = min(start + block_size, n)
            # Scaling a row by its own (positive) inverse norm does not change its top k, so
            # only the k kept values get it: one pass over the block instead of two.
            similarity = features[start:stop] @ features.T
            similarity *= inverse_norms[None, :]
            top_values, indices[start:stop] = similarity.topk(k, dim=1)
            weights[start:stop] = top_values * inverse_norms[start:stop, None]
    if features.requires_grad and torch.is_grad_enabled():
        unit = F.normalize(features, dim=1)
        neighbours = unit.index_select(0, indices.reshape(-1)).view(n, k, -1)
        weights = torch.einsum("nd,nkd->nk", unit, neighbours)
    return KnnGraph(indices, weights)


def symmetric_normalise(graph: KnnGraph) -> KnnGraph:
    """D^-1/2 S D^-1/2 of a kNN graph S, where D holds S's row sums; the pattern is unchanged.

    A kNN graph is not symmetric, so "degree" needs a choice: the row sum (the sum of an item's
    kept similarities), as LATTICE's definition uses. A row whose sum is not positive (possible
    only with negative cosines) gets degree^-1/2 = 0 instead of a NaN or an infinity, and the
    gradient through such rows is zero.
    """
    degree = graph.weights.sum(dim=1)
    tiny = torch.finfo(degree.dtype).tiny
    inverse_sqrt = torch.where(degree > 0, degree.clamp_min(tiny).rsqrt(), torch.zeros_like(degree))
    weights = graph.weights * inverse_sqrt[:, None] * inverse_sqrt[graph.indices]
    return KnnGraph(graph.indices, weights)


def unweighted(graph: KnnGraph) -> KnnGraph:
    """The same neighbours with every kept edge weighted 1 (the binary kNN graph of FREEDOM,
    MGCN and BM3; :func:`symmetric_normalise` then gives each edge 1/k)."""
    return KnnGraph(graph.indices, torch.ones_like(graph.weights))
