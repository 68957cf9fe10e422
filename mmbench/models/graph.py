"""Sparse user-item graph operators shared by the graph-based models.

Node ids are users 0..U-1 then items U..U+I-1. Graphs are torch sparse CSR tensors, whose products
with dense embeddings (forward and backward) are faster on CPU than COO's. Autograd's backward of
``matrix @ dense`` builds the matrix's transpose at every call (a COO round trip and a sort);
:func:`sparse_matmul` uses one built in advance instead. ``benchmarks/sparse_products.py`` times
the three on TikTok's graph (figures: docs/reproduction-notes-baselines.md, "Sparse products").
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch


def _bipartite(train: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """The binary (users + items) adjacency of the training matrix, and each node's degree."""
    binary = (train > 0).astype(np.float32).tocsr()
    adjacency = sp.bmat([[None, binary], [binary.T, None]], format="csr", dtype=np.float32)
    return adjacency, np.asarray(adjacency.sum(axis=1)).ravel()


def _inverse_power(degree: np.ndarray, power: float) -> np.ndarray:
    """degree ** -power, with 0 for isolated nodes instead of a division by zero."""
    result = np.zeros_like(degree)
    nonzero = degree > 0
    result[nonzero] = degree[nonzero] ** -power
    return result


def to_torch_csr(matrix: sp.spmatrix, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A scipy sparse matrix as a torch sparse CSR tensor of ``dtype`` (values rounded once, from
    the matrix's own precision)."""
    converted = matrix.tocsr()
    converted.sort_indices()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(converted.indptr.astype(np.int64)),
            torch.from_numpy(converted.indices.astype(np.int64)),
            torch.from_numpy(converted.data).to(dtype),
            size=converted.shape,
            check_invariants=False,
        )


def symmetric_bipartite_adjacency(train: sp.csr_matrix) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the (users + items) bipartite graph, as a torch sparse CSR tensor.

    Isolated nodes (users without training items, cold items) get zero rows instead of a
    division by zero.
    """
    adjacency, degree = _bipartite(train)
    scaling = sp.diags(_inverse_power(degree, 0.5))
    return to_torch_csr(scaling @ adjacency @ scaling)


def mean_bipartite_adjacency(train: sp.csr_matrix) -> torch.Tensor:
    """D^-1 A of the (users + items) bipartite graph: ``adjacency @ x`` averages x over neighbours.

    Row u holds 1/deg(u) at each of u's training items, and row U+i holds 1/deg(i) at each of
    item i's users. Isolated nodes get zero rows, so their mean over an empty neighbourhood is the
    zero vector rather than a division by zero.
    """
    adjacency, degree = _bipartite(train)
    return to_torch_csr(sp.diags(_inverse_power(degree, 1.0)) @ adjacency)


def training_edges(train: sp.csr_matrix) -> tuple[torch.Tensor, torch.Tensor]:
    """The (user, item) pairs of the training matrix, as two int64 tensors in row-major order."""
    coo = train.tocoo()
    order = np.lexsort((coo.col, coo.row))
    return torch.from_numpy(coo.row[order].astype(np.int64)), torch.from_numpy(coo.col[order].astype(np.int64))


def edge_bipartite_adjacency(
    users: torch.Tensor,
    items: torch.Tensor,
    n_users: int,
    n_items: int,
    values: torch.Tensor | None = None,
) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the (users + items) graph whose edges are the given (user, item) pairs.

    Built in torch on the device of ``users``, for models that change the graph during training
    (FREEDOM drops edges every epoch, GRCN re-weights them): no round trip through scipy.
    ``values`` are edge weights (default 1); degrees are weighted row sums and isolated nodes get
    zero rows. The result is a constant sparse CSR matrix (no gradient reaches ``values``).
    """
    n_nodes = n_users + n_items
    weights = torch.ones(users.shape[0], device=users.device) if values is None else values.detach()
    rows = torch.cat([users, items + n_users])
    cols = torch.cat([items + n_users, users])
    both = torch.cat([weights, weights])
    degree = torch.zeros(n_nodes, device=users.device, dtype=both.dtype).index_add_(0, rows, both)
    inverse_sqrt = torch.where(degree > 0, degree.clamp_min(torch.finfo(degree.dtype).tiny).rsqrt(), 0.0)
    normalised = both * inverse_sqrt[rows] * inverse_sqrt[cols]
    matrix = torch.sparse_coo_tensor(
        torch.stack([rows, cols]), normalised, (n_nodes, n_nodes), check_invariants=False
    ).coalesce()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return matrix.to_sparse_csr()


def layer_mean_propagation(
    adjacency: torch.Tensor,
    embeddings: torch.Tensor,
    n_layers: int,
    transpose: torch.Tensor | None = None,
) -> torch.Tensor:
    """LightGCN's propagation: the mean of ``adjacency^l @ embeddings`` over layers l = 0..n_layers.

    With ``transpose`` (the adjacency itself when it is symmetric, as D^-1/2 A D^-1/2 is), each
    product goes through :func:`sparse_matmul`, whose backward reuses it instead of transposing
    the matrix again at every layer of every step.
    """
    layer = embeddings
    total = layer
    for _ in range(n_layers):
        layer = adjacency @ layer if transpose is None else sparse_matmul(adjacency, transpose, layer)
        total = total + layer
    return total / (n_layers + 1)


def user_item_block(adjacency: torch.Tensor, n_users: int, n_items: int) -> torch.Tensor:
    """Rows 0..U-1 of a (users + items) bipartite CSR matrix, as a [U, I] CSR matrix.

    A user's row of a bipartite matrix has entries only in the item columns U..U+I-1, so the
    block is the first ``n_users`` rows with the columns shifted down by ``n_users``: the
    normalised user -> item operator of the same graph, for models that aggregate item-side
    representations into users.
    """
    crow = adjacency.crow_indices()
    stored = int(crow[n_users])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            crow[: n_users + 1].clone(),
            adjacency.col_indices()[:stored] - n_users,
            adjacency.values()[:stored].clone(),
            size=(n_users, n_items),
            check_invariants=False,
        )


def transpose_csr(matrix: torch.Tensor) -> torch.Tensor:
    """The transpose of a sparse CSR matrix, itself in CSR layout (build it once, reuse it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return matrix.t().to_sparse_csr()


class _CsrMatmul(torch.autograd.Function):
    """matrix @ dense, whose backward multiplies by the given transpose (no gradient to matrix)."""

    @staticmethod
    def forward(ctx, matrix: torch.Tensor, transpose: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        ctx.transpose = transpose
        return matrix @ dense

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:
        return None, None, ctx.transpose @ grad


def sparse_matmul(matrix: torch.Tensor, transpose: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """``matrix @ dense`` for a constant sparse CSR ``matrix``, given its CSR ``transpose``.

    Same value and gradient with respect to ``dense`` as the plain product; no gradient flows to
    the matrix, which graph models keep fixed.
    """
    return _CsrMatmul.apply(matrix, transpose, dense)
