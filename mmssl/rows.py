"""User-item relation rows, the discriminator's inputs, kept in factored form.

Every row MMSSL feeds its discriminator has the form

    x_b = s_b * ( (1 - R_b) * (a_b V^T) + p_b )

where R_b is user b's binary training row, a_b V^T is a low-rank score row (dot products of
64-d embeddings, possibly several factor pairs side by side), p_b is non-zero only on b's
training items and s_b is the row's L2 normalisation. A dense row has n_items entries; the
factored one has rank + deg(b) numbers. :class:`RowBlock` holds rows in this form and can
materialise them (for tests and for the dense reference path).

The row builders here follow the official code's definitions (the digest's section 2.7): generated
rows ``norm(scores * (1 - R))``, and "real" rows from the Gumbel transformation
``norm(softmax((R + eps * g) / tau) + lambda * norm(scores_ui * (1 - R)))``. The Gumbel noise is
drawn on training entries only; on the other entries it would move values of about
exp(-1/tau) (below float32 resolution next to the training entries for the code's tau <= 0.02),
so it is set to zero there, in the factored and the dense path alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

NORM_EPS = 1e-12


@dataclass(frozen=True)
class TrainEntries:
    """The training (user, item) pairs of a set of users: ``rows`` index into that set."""

    rows: torch.Tensor
    cols: torch.Tensor
    n_rows: int


def train_entries(indptr: torch.Tensor, indices: torch.Tensor, users: torch.Tensor) -> TrainEntries:
    """The training items of ``users`` from the training matrix's CSR arrays, in CSR order."""
    starts = indptr[users]
    degree = indptr[users + 1] - starts
    rows = torch.repeat_interleave(torch.arange(len(users), device=users.device), degree)
    first_of_row = torch.cumsum(degree, 0) - degree
    offsets = torch.arange(len(rows), device=users.device) - first_of_row[rows]
    cols = indices[starts[rows] + offsets]
    return TrainEntries(rows, cols, len(users))


def dense_train_rows(entries: TrainEntries, n_items: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The binary training rows R_b as a dense ``[n_rows, n_items]`` matrix."""
    dense = torch.zeros(entries.n_rows, n_items, dtype=dtype, device=entries.cols.device)
    dense[entries.rows, entries.cols] = 1.0
    return dense


@dataclass(frozen=True)
class RowBlock:
    """Rows ``scale * ((1 - R) * sum_k U_k V_k^T + P)`` in factored form.

    ``user_factors`` and ``item_factors`` are matching tuples of ``[n_rows, r_k]`` and
    ``[n_items, r_k]`` tensors; ``train_values`` holds P's values on ``entries`` (None for zero).
    """

    user_factors: tuple[torch.Tensor, ...]
    item_factors: tuple[torch.Tensor, ...]
    train_values: torch.Tensor | None
    scale: torch.Tensor
    entries: TrainEntries

    @property
    def n_rows(self) -> int:
        return self.entries.n_rows

    def low_rank_on_train(self) -> torch.Tensor:
        """The low-rank scores at the training entries (the values the mask removes)."""
        entries = self.entries
        return sum(
            (u[entries.rows] * v[entries.cols]).sum(-1) for u, v in zip(self.user_factors, self.item_factors)
        )

    def sparse_values(self) -> torch.Tensor:
        """Values at the training entries to add to the unmasked low-rank product."""
        values = -self.low_rank_on_train()
        if self.train_values is not None:
            values = values + self.train_values
        return values

    def dense(self) -> torch.Tensor:
        """The rows as a dense ``[n_rows, n_items]`` matrix."""
        product = sum(u @ v.T for u, v in zip(self.user_factors, self.item_factors))
        mask = 1.0 - dense_train_rows(self.entries, product.shape[1], product.dtype)
        rows = product * mask
        if self.train_values is not None:
            rows = rows.index_put((self.entries.rows, self.entries.cols), self.train_values, accumulate=True)
        return rows * self.scale[:, None]


def _squared_row_norms(
    user_factors: tuple[torch.Tensor, ...],
    item_factors: tuple[torch.Tensor, ...],
    entries: TrainEntries,
    train_values: torch.Tensor | None,
) -> torch.Tensor:
    """||(1 - R_b) * (a_b V^T) + p_b||^2 without forming the rows (the two parts are disjoint)."""
    a = torch.cat(user_factors, dim=1)
    v = torch.cat(item_factors, dim=1)
    full = ((a @ (v.T @ v)) * a).sum(-1)
    on_train = (a[entries.rows] * v[entries.cols]).sum(-1)
    squares = -on_train.square()
    if train_values is not None:
        squares = squares + train_values.square()
    correction = torch.zeros_like(full).index_add(0, entries.rows, squares)
    return (full + correction).clamp_min(0.0)


def normalised_block(
    user_factors: tuple[torch.Tensor, ...],
    item_factors: tuple[torch.Tensor, ...],
    entries: TrainEntries,
    train_values: torch.Tensor | None = None,
) -> RowBlock:
    """The rows ``(1 - R) * (a V^T) + p``, each divided by its L2 norm (like ``F.normalize``)."""
    norms = _squared_row_norms(user_factors, item_factors, entries, train_values).sqrt()
    scale = 1.0 / norms.clamp_min(NORM_EPS)
    return RowBlock(tuple(user_factors), tuple(item_factors), train_values, scale, entries)


def score_rows(user_embeddings: torch.Tensor, item_embeddings: torch.Tensor, entries: TrainEntries) -> RowBlock:
    """``norm((e_u . e_i^T) * (1 - R))`` for the users of ``entries``: the code's ``u_sim_calculation``."""
    return normalised_block((user_embeddings,), (item_embeddings,), entries)


def dense_score_rows(user_embeddings: torch.Tensor, item_embeddings: torch.Tensor, entries: TrainEntries) -> torch.Tensor:
    """The same rows as :func:`score_rows`, computed densely."""
    scores = user_embeddings @ item_embeddings.T
    mask = 1.0 - dense_train_rows(entries, item_embeddings.shape[0], scores.dtype)
    return F.normalize(scores * mask, p=2, dim=1, eps=NORM_EPS)


def gumbel_noise(n: int, generator_device: torch.device) -> torch.Tensor:
    """Standard Gumbel samples, written as the code does: -log(-log(U + 1e-8) + 1e-8)."""
    uniform = torch.rand(n, device=generator_device)
    return -torch.log(-torch.log(uniform + 1e-8) + 1e-8)


def gumbel_real_rows(
    ui_rows: RowBlock, noise: torch.Tensor, tau: float, noise_scale: float, ui_scale: float
) -> RowBlock:
    """The Gumbel-transformed "real" rows ``norm(softmax((R + eps*g) / tau) + lambda * ui_rows)``.

    The softmax is exact: training entries carry ``(1 + eps*g) / tau`` and every other entry 0, so
    the off-training probability is one constant per row, a rank-one term of the factored form.
    """
    entries = ui_rows.entries
    n_items = ui_rows.item_factors[0].shape[0]
    logits = (1.0 + noise_scale * noise) / tau
    row_max = logits.new_full((entries.n_rows,), -torch.inf).scatter_reduce(
        0, entries.rows, logits, "amax", include_self=True
    )
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    exp_train = torch.exp(logits - row_max[entries.rows])
    degree = torch.zeros_like(row_max).index_add(0, entries.rows, torch.ones_like(logits))
    exp_off = torch.exp(-row_max)
    total = torch.zeros_like(row_max).index_add(0, entries.rows, exp_train) + (n_items - degree) * exp_off
    probability_train = exp_train / total[entries.rows]
    probability_off = (exp_off / total)[:, None]
    ones = torch.ones(n_items, 1, dtype=logits.dtype, device=logits.device)
    user_factors = tuple(ui_scale * ui_rows.scale[:, None] * u for u in ui_rows.user_factors) + (probability_off,)
    item_factors = ui_rows.item_factors + (ones,)
    return normalised_block(user_factors, item_factors, entries, probability_train)


def dense_gumbel_real_rows(
    ui_rows: torch.Tensor, entries: TrainEntries, noise: torch.Tensor, tau: float, noise_scale: float, ui_scale: float
) -> torch.Tensor:
    """The same rows as :func:`gumbel_real_rows`, computed densely from the definition."""
    n_items = ui_rows.shape[1]
    interactions = dense_train_rows(entries, n_items, ui_rows.dtype)
    dense_noise = torch.zeros_like(interactions)
    dense_noise[entries.rows, entries.cols] = noise
    probability = torch.softmax((interactions + noise_scale * dense_noise) / tau, dim=1)
    return F.normalize(probability + ui_scale * ui_rows, p=2, dim=1, eps=NORM_EPS)


def binary_real_rows(entries: TrainEntries, n_items: int, dtype: torch.dtype) -> RowBlock:
    """L2-normalised binary training rows (the w/o-GT variant's "real" rows)."""
    device = entries.cols.device
    zeros_user = torch.zeros(entries.n_rows, 1, dtype=dtype, device=device)
    zeros_item = torch.zeros(n_items, 1, dtype=dtype, device=device)
    ones = torch.ones(len(entries.cols), dtype=dtype, device=device)
    return normalised_block((zeros_user,), (zeros_item,), entries, ones)


def dense_binary_real_rows(entries: TrainEntries, n_items: int, dtype: torch.dtype) -> torch.Tensor:
    return F.normalize(dense_train_rows(entries, n_items, dtype), p=2, dim=1, eps=NORM_EPS)
