"""MMSSL's discriminator (critic) over user-item relation rows, and its gradient penalty.

Architecture of the official ``Models.Discriminator``: Linear(I, I/4) -> LeakyReLU -> BatchNorm ->
Dropout -> Linear(I/4, I/8) -> LeakyReLU -> BatchNorm -> Dropout -> Linear(I/8, 1), Kaiming-normal
weights and zero biases, always in training mode (batch statistics). The activation slope and the
output (unbounded, or the code's 100 * sigmoid) are config switches.

The first layer dominates the cost: I/4 x I weights applied to rows of length I. Its input rows
are low rank plus a few entries per row (:mod:`mmssl.rows`), so ``W1 x_b`` is computed as
``s_b * ((W1 V) a_b + sum_j v_bj W1[:, j])``: a product with the item factors once per call, then
work proportional to rank + degree per row. The gradient penalty needs ``||W1^T g_b||`` for the
critic's gradient ``g_b`` at the first layer; it is computed as ``g_b^T (W1 W1^T) g_b``, which
is exact and cheaper than forming the n x I input gradients when there are many rows. Its
interpolated rows need no first-layer pass of their own (:meth:`Discriminator.penalty_at`).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
from torch import nn

from mmssl.rows import RowBlock

Rows = torch.Tensor | Sequence[RowBlock]
_GATHER_CHUNK = 4096


class _SparseRowsMatmul(torch.autograd.Function):
    """``S @ weight^T`` for a sparse ``S`` given as (rows, cols, values), differentiable in both.

    ``rows`` must be sorted (CSR order). The gradient of the values is needed only on the sparse
    pattern: it is gathered pair by pair (in chunks), never formed as the dense
    ``grad @ weight`` that a generic sparse product's backward would compute.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n_rows: int, weight: torch.Tensor
    ) -> torch.Tensor:
        weight_t = weight.t().contiguous()
        counts = torch.bincount(rows, minlength=n_rows)
        crow = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            matrix = torch.sparse_csr_tensor(crow, cols, values, (n_rows, weight_t.shape[0]), check_invariants=False)
            out = matrix @ weight_t
        ctx.save_for_backward(rows, cols, values, weight_t)
        return out

    @staticmethod
    def backward(  # type: ignore[override]
        ctx, grad: torch.Tensor
    ) -> tuple[None, None, torch.Tensor | None, None, torch.Tensor | None]:
        rows, cols, values, weight_t = ctx.saved_tensors
        grad_values = grad_weight = None
        if ctx.needs_input_grad[2]:
            grad = grad.contiguous()
            grad_values = torch.cat([
                (grad[rows[i : i + _GATHER_CHUNK]] * weight_t[cols[i : i + _GATHER_CHUNK]]).sum(-1)
                for i in range(0, len(rows), _GATHER_CHUNK)
            ] or [values.new_zeros(0)])
        if ctx.needs_input_grad[4]:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                transpose = torch.sparse_coo_tensor(
                    torch.stack([cols, rows]), values.detach(), (weight_t.shape[0], grad.shape[0]),
                    check_invariants=False,
                ).coalesce().to_sparse_csr()
                grad_weight = (transpose @ grad).t()
        return None, None, grad_values, None, grad_weight


class _GramQuadraticForm(torch.autograd.Function):
    """``||W^T g_b||^2 = g_b^T (W W^T) g_b`` per row, with one product for the weight gradient.

    d/dW of ``sum_b c_b g_b^T W W^T g_b`` is ``2 (sum_b c_b g_b g_b^T) W``: one [h, h] x [h, I]
    product, where autograd through ``W @ W.T`` would run two.
    """

    @staticmethod
    def forward(ctx, gradients: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        weighted = gradients @ symmetric_gram(weight)
        ctx.save_for_backward(gradients, weight, weighted)
        return (weighted * gradients).sum(-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:  # type: ignore[override]
        gradients, weight, weighted = ctx.saved_tensors
        grad_gradients = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_gradients = 2.0 * grad[:, None] * weighted
        if ctx.needs_input_grad[1]:
            grad_weight = 2.0 * ((gradients * grad[:, None]).T @ gradients) @ weight
        return grad_gradients, grad_weight


def symmetric_gram(weight: torch.Tensor, blocks: int = 4) -> torch.Tensor:
    """``weight @ weight.T``, computing only the blocks on and above the diagonal.

    The product is symmetric, so a grid of ``blocks`` x ``blocks`` row blocks needs
    ``blocks * (blocks + 1) / 2`` of its products; the rest are transposed copies. On the critic's
    1677 x 6710 first layer this is the largest product of the penalty's forward pass.
    """
    size = weight.shape[0]
    bounds = [size * k // blocks for k in range(blocks + 1)]
    spans = [(lo, hi) for lo, hi in zip(bounds, bounds[1:]) if hi > lo]
    gram = weight.new_empty(size, size)
    for i, (row_lo, row_hi) in enumerate(spans):
        for col_lo, col_hi in spans[i:]:
            block = weight[row_lo:row_hi] @ weight[col_lo:col_hi].T
            gram[row_lo:row_hi, col_lo:col_hi] = block
            if col_lo != row_lo:
                gram[col_lo:col_hi, row_lo:row_hi] = block.T
    return gram


def sparse_rows_matmul(
    rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, n_rows: int, weight: torch.Tensor
) -> torch.Tensor:
    """``[n_rows, weight.shape[0]]``: the sparse matrix with ``values`` at (rows, cols) times ``weight^T``."""
    return _SparseRowsMatmul.apply(rows, cols, values, n_rows, weight)


class Discriminator(nn.Module):
    """Critic scoring each relation row; ``rows`` are dense ``[n, I]`` or factored blocks."""

    def __init__(
        self, n_items: int, dropout1: float, dropout2: float, negative_slope: float, bounded: bool
    ) -> None:
        super().__init__()
        hidden1, hidden2 = max(1, n_items // 4), max(1, n_items // 8)
        self.layer1 = nn.Linear(n_items, hidden1)
        self.layer2 = nn.Linear(hidden1, hidden2)
        self.layer3 = nn.Linear(hidden2, 1)
        for layer in (self.layer1, self.layer2, self.layer3):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.norm1 = nn.BatchNorm1d(hidden1)
        self.norm2 = nn.BatchNorm1d(hidden2)
        self.dropout1 = nn.Dropout(dropout1)
        self.dropout2 = nn.Dropout(dropout2)
        self.negative_slope = negative_slope
        self.bounded = bounded

    def first_layer(self, rows: Rows) -> torch.Tensor:
        """``W1 x + b1`` for every row, blocks concatenated in order.

        Factored blocks share one product of ``W1`` with all their distinct item factors and one
        sparse product for all their training-entry values, so each call adds one gradient term
        of ``W1``'s size per kind instead of one per block.
        """
        if isinstance(rows, torch.Tensor):
            return self.layer1(rows)
        weight = self.layer1.weight
        factors: list[torch.Tensor] = []
        column: dict[int, int] = {}
        for block in rows:
            for item_factor in block.item_factors:
                if id(item_factor) not in column:
                    column[id(item_factor)] = len(factors)
                    factors.append(item_factor)
        projected = weight @ torch.cat(factors, dim=1)
        user_blocks, sparse_rows, sparse_cols, sparse_values = [], [], [], []
        offset = 0
        for block in rows:
            parts: list[torch.Tensor | None] = [None] * len(factors)
            for user_factor, item_factor in zip(block.user_factors, block.item_factors):
                k = column[id(item_factor)]
                parts[k] = user_factor if parts[k] is None else parts[k] + user_factor
            user_blocks.append(torch.cat([
                part if part is not None else factor.new_zeros(block.n_rows, factor.shape[1])
                for part, factor in zip(parts, factors)
            ], dim=1))
            sparse_rows.append(block.entries.rows + offset)
            sparse_cols.append(block.entries.cols)
            sparse_values.append(block.sparse_values())
            offset += block.n_rows
        low_rank = torch.cat(user_blocks) @ projected.T
        corrections = sparse_rows_matmul(
            torch.cat(sparse_rows), torch.cat(sparse_cols), torch.cat(sparse_values), offset, weight
        )
        scale = torch.cat([block.scale for block in rows])
        return scale[:, None] * (low_rank + corrections) + self.layer1.bias

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Everything after the first linear layer; one score per row."""
        slope = self.negative_slope
        hidden = self.dropout1(self.norm1(nn.functional.leaky_relu(hidden, slope)))
        hidden = self.dropout2(self.norm2(nn.functional.leaky_relu(self.layer2(hidden), slope)))
        out = self.layer3(hidden).squeeze(-1)
        return 100.0 * torch.sigmoid(out) if self.bounded else out

    def forward(self, rows: Rows) -> torch.Tensor:
        return self.head(self.first_layer(rows))

    def gradient_penalty(self, rows: torch.Tensor) -> torch.Tensor:
        """WGAN-GP's ``mean_b (||d sum D / d x_b|| - 1)^2`` at the given dense (interpolated) rows.

        As in the code, the gradient is that of the summed outputs, so batch normalisation's
        coupling of rows is part of it. This is the straightforward reference; factored rows go
        through :meth:`penalty_at`.
        """
        inputs = rows.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(self(inputs).sum(), inputs, create_graph=True)
        return (gradient.norm(2, dim=1) - 1.0).square().mean()

    def penalty_at(self, hidden: torch.Tensor) -> torch.Tensor:
        """The same penalty for rows given by their first-layer outputs ``W1 x + b1``.

        The input gradient is ``W1^T`` times the gradient at ``hidden``, and its norm comes from
        ``W1 W1^T``, so the rows themselves are never needed. The layer is affine: the outputs of
        interpolated rows ``a x + (1 - a) y`` are the same mix of the outputs of ``x`` and ``y``,
        so the critic's step mixes the first-layer outputs of its fake and real rows instead of
        running the layer on the interpolated rows.
        """
        (at_hidden,) = torch.autograd.grad(self.head(hidden).sum(), hidden, create_graph=True)
        squared = _GramQuadraticForm.apply(at_hidden, self.layer1.weight)
        return (squared.clamp_min(1e-24).sqrt() - 1.0).square().mean()
