"""The modality-specific user-item graphs that MMSSL's structure learning generates.

Each batch, every batch user's top-k items under the modality's generated relation row become
that user's neighbours in the modality graph. Two schedules:

- ``rolling`` (the paper's intent): each user keeps its latest top-k list; the graph is rebuilt
  from all users every ``rebuild_every`` batches. A user not yet seen keeps its training items,
  so the graph starts as the interaction graph and no row is ever empty;
- ``official`` (the released code): the batches' pairs are appended to one list; when the batch
  index within the epoch is a multiple of T (and not 0) the graph is rebuilt from the list, which
  is then cleared, and otherwise the batch's pairs are appended. The list persists over epochs.
  With T = 1 the graph is rebuilt from an empty list from the third batch of each epoch on.

``own`` pairing links a user to its own top-k items; ``official`` pairing reproduces the code's
tiled user list, which joins user ``users[t mod B]`` to the t-th item of the row-major [B, k]
top-k matrix (user ``users[t // k]``'s list).

The whole state is tensors on the model's device, and each rebuild (pairing, duplicate merging,
normalisation, CSR operators) runs there in torch, so that rebuilding every batch does not leave a
GPU waiting on the CPU. The state is saved with the model (see :meth:`GeneratedGraph.state`), so a
restored best checkpoint evaluates with the graphs it was selected with.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from mmbench.models.graph import sparse_matmul


@dataclass(frozen=True)
class BipartiteOperators:
    """The normalised user->item and item->user matrices of a graph, with their transposes.

    The transposes make products differentiable without autograd rebuilding them per call
    (:func:`mmbench.models.graph.sparse_matmul`).
    """

    user_item: torch.Tensor
    item_user: torch.Tensor
    user_item_t: torch.Tensor
    item_user_t: torch.Tensor

    def to_users(self, item_values: torch.Tensor) -> torch.Tensor:
        return sparse_matmul(self.user_item, self.user_item_t, item_values)

    def to_items(self, user_values: torch.Tensor) -> torch.Tensor:
        return sparse_matmul(self.item_user, self.item_user_t, user_values)


def normalised_pair_graph(
    users: torch.Tensor | np.ndarray,
    items: torch.Tensor | np.ndarray,
    n_users: int,
    n_items: int,
    norm: str,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> BipartiteOperators:
    """The normalised operators of a (user, item) pair list; duplicate pairs are summed.

    ``symmetric``: D_u^-1/2 G D_i^-1/2 and its transpose; ``row``: the code's ``csr_norm``,
    D_u^-1/2 G and D_i^-1/2 G^T (rows scaled, columns not).

    Built in torch on ``device``, where the pairs come from, so that rebuilding a generated graph
    every batch on a GPU copies nothing through the CPU. Values are computed in float32 and then cast to ``dtype``,
    as before the graph moved to torch. In the symmetric case the item->user matrix is the
    user->item matrix's transpose, so the operators share two tensors instead of holding four.
    """
    users = torch.as_tensor(users, dtype=torch.int64, device=device)
    items = torch.as_tensor(items, dtype=torch.int64, device=device)
    user_scale = _inverse_sqrt(torch.bincount(users, minlength=n_users))
    item_scale = _inverse_sqrt(torch.bincount(items, minlength=n_items))
    by_user = _merged_pairs(users, items, n_users, n_items)  # rows: users, cols: items
    by_item = _merged_pairs(items, users, n_items, n_users)  # rows: items, cols: users
    scaled_by_user = by_user.counts * user_scale[by_user.rows]
    scaled_by_item = by_item.counts * user_scale[by_item.cols]
    if norm == "symmetric":
        user_item = by_user.csr(scaled_by_user * item_scale[by_user.cols], dtype)
        item_user = by_item.csr(scaled_by_item * item_scale[by_item.rows], dtype)
        return BipartiteOperators(user_item, item_user, item_user, user_item)
    return BipartiteOperators(
        by_user.csr(scaled_by_user, dtype),
        by_item.csr(by_item.counts * item_scale[by_item.rows], dtype),
        by_item.csr(scaled_by_item, dtype),
        by_user.csr(by_user.counts * item_scale[by_user.cols], dtype),
    )


@dataclass(frozen=True)
class _MergedPairs:
    """The distinct (row, col) pairs of a pair list in row-major order, each with its multiplicity."""

    rows: torch.Tensor
    cols: torch.Tensor
    counts: torch.Tensor  # float32
    crow_indices: torch.Tensor
    shape: tuple[int, int]

    def csr(self, values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The CSR matrix with ``values`` (one per pair, in this order) at these pairs."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                self.crow_indices, self.cols, values.to(dtype), size=self.shape, check_invariants=False
            )


def _merged_pairs(rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_cols: int) -> _MergedPairs:
    """Sorts the pairs by ``row * n_cols + col`` and merges equal neighbours.

    One sort of one key per orientation, and the CSR row pointers from the row counts: cheaper
    than coalescing a COO tensor, which sorts too, and converting it to CSR
    (``benchmarks/mmssl_graph_rebuild.py`` times both against the scipy construction). The key is
    int32 when every key fits, which halves the bytes to sort.
    """
    key_dtype = torch.int32 if n_rows * n_cols < 2**31 else torch.int64
    keys = torch.sort(rows.to(key_dtype) * n_cols + cols.to(key_dtype)).values
    distinct, counts = torch.unique_consecutive(keys, return_counts=True)
    merged_rows, merged_cols = (distinct // n_cols).to(torch.int64), (distinct % n_cols).to(torch.int64)
    row_lengths = torch.bincount(merged_rows, minlength=n_rows)
    crow_indices = torch.cat([row_lengths.new_zeros(1), torch.cumsum(row_lengths, dim=0)])
    return _MergedPairs(merged_rows, merged_cols, counts.to(torch.float32), crow_indices, (n_rows, n_cols))


def _inverse_sqrt(degree: torch.Tensor) -> torch.Tensor:
    """(degree + 1e-8)^-1/2 in float32 as the code's ``csr_norm``; 0 for empty rows (their values are 0 anyway)."""
    degree = degree.to(torch.float32)
    return torch.where(degree > 0, (degree + 1e-8).pow(-0.5), torch.zeros_like(degree))


def assigned_items(topk: torch.Tensor, pairing: str) -> torch.Tensor:
    """``[B, k]``: the items each batch user is linked to, under the pairing rule."""
    if pairing == "own" or topk.shape[1] == 0:
        return topk
    n, k = topk.shape
    flat = topk.reshape(-1)
    positions = torch.arange(n, device=topk.device)[:, None] + n * torch.arange(k, device=topk.device)[None, :]
    return flat[positions]


class GeneratedGraph:
    """One modality's generated user-item graph, its update schedule and its current matrices.

    The state (training pairs, latest top-k lists, seen flags, pending pairs, current pairs) is
    tensors on one device: the model's, which the state follows whenever :meth:`update` or
    :meth:`matrices` sees tensors of another device, so that the per-batch rebuild runs where the
    top-k lists are computed. :meth:`state` is always on the CPU.
    """

    def __init__(
        self,
        train: sp.csr_matrix,
        k: int,
        schedule: str,
        pairing: str,
        rebuild_every: int,
        norm: str,
    ) -> None:
        coo = train.tocoo()
        self.train_users = torch.from_numpy(coo.row.astype(np.int64))
        self.train_items = torch.from_numpy(coo.col.astype(np.int64))
        self.n_users, self.n_items = train.shape
        self.k, self.schedule, self.pairing = k, schedule, pairing
        self.rebuild_every, self.norm = rebuild_every, norm
        self.latest = torch.zeros((self.n_users, k), dtype=torch.int64)
        self.seen = torch.zeros(self.n_users, dtype=torch.bool)
        self.pending_users: list[torch.Tensor] = []
        self.pending_items: list[torch.Tensor] = []
        self.batches_since_rebuild = 0
        self.pairs = (self.train_users, self.train_items)
        self._matrices: BipartiteOperators | None = None

    @property
    def device(self) -> torch.device:
        """Where the state is."""
        return self.latest.device

    def _move_to(self, device: torch.device) -> None:
        if device == self.device:
            return
        self.train_users, self.train_items = self.train_users.to(device), self.train_items.to(device)
        self.latest, self.seen = self.latest.to(device), self.seen.to(device)
        self.pending_users = [p.to(device) for p in self.pending_users]
        self.pending_items = [p.to(device) for p in self.pending_items]
        self.pairs = (self.pairs[0].to(device), self.pairs[1].to(device))

    def matrices(self, like: torch.Tensor) -> BipartiteOperators:
        """The normalised operators of the current graph, on the device and in the dtype of ``like``."""
        current = self._matrices
        if current is None or current.user_item.device != like.device or current.user_item.dtype != like.dtype:
            self._move_to(like.device)
            users, items = self.pairs
            self._matrices = normalised_pair_graph(
                users, items, self.n_users, self.n_items, self.norm, like.device, like.dtype
            )
        return self._matrices

    def update(self, batch_index: int, users: torch.Tensor, topk: torch.Tensor) -> None:
        """Take one batch's top-k lists (``[B, k]`` item ids), after that batch's forward pass."""
        self._move_to(users.device)
        users = users.to(torch.int64)
        items = assigned_items(topk, self.pairing).to(self.device, torch.int64)
        if self.schedule == "official":
            if batch_index % self.rebuild_every == 0 and batch_index != 0:
                self._set_pairs(self._joined(self.pending_users), self._joined(self.pending_items))
                self.pending_users, self.pending_items = [], []
            else:
                self.pending_users.append(users.repeat_interleave(items.shape[1]))
                self.pending_items.append(items.reshape(-1).clone())
            return
        self.latest[users] = items
        self.seen[users] = True
        self.batches_since_rebuild += 1
        if self.batches_since_rebuild >= self.rebuild_every:
            self.batches_since_rebuild = 0
            self._rebuild_rolling()

    def _rebuild_rolling(self) -> None:
        seen_users = torch.nonzero(self.seen).reshape(-1)
        keep = ~self.seen[self.train_users]
        users = torch.cat([self.train_users[keep], seen_users.repeat_interleave(self.k)])
        items = torch.cat([self.train_items[keep], self.latest[seen_users].reshape(-1)])
        self._set_pairs(users, items)

    def _joined(self, parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64, device=self.device)

    def _set_pairs(self, users: torch.Tensor, items: torch.Tensor) -> None:
        self.pairs = (users, items)
        self._matrices = None

    def n_edges(self) -> int:
        return int(self.pairs[0].shape[0])

    def state(self) -> dict[str, Any]:
        """Everything needed to continue the schedule exactly, as CPU tensors and ints.

        The format is the one the graphs had when their state was numpy arrays, so checkpoints
        written then load unchanged; CPU tensors keep a checkpoint loadable on any device.
        """
        cpu = lambda tensor: tensor.to("cpu", copy=True)  # noqa: E731
        return {
            "latest": cpu(self.latest),
            "seen": cpu(self.seen),
            "pending_users": cpu(self._joined(self.pending_users)),
            "pending_items": cpu(self._joined(self.pending_items)),
            "pair_users": cpu(self.pairs[0]),
            "pair_items": cpu(self.pairs[1]),
            "batches_since_rebuild": self.batches_since_rebuild,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state`'s output (from any device) onto the device the state is on now."""
        device = self.device
        take = lambda key, dtype=torch.int64: state[key].to(device, dtype, copy=True)  # noqa: E731
        self.latest, self.seen = take("latest"), take("seen", torch.bool)
        pending_users, pending_items = take("pending_users"), take("pending_items")
        self.pending_users = [pending_users] if len(pending_users) else []
        self.pending_items = [pending_items] if len(pending_items) else []
        self.batches_since_rebuild = int(state["batches_since_rebuild"])
        self._set_pairs(take("pair_users"), take("pair_items"))
