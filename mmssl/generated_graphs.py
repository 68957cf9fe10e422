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

The whole state is tensors, saved with the model (see :meth:`GeneratedGraph.state`), so a restored
best checkpoint evaluates with the graphs it was selected with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from mmbench.models.graph import sparse_matmul, to_torch_csr



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
    users: np.ndarray,
    items: np.ndarray,
    n_users: int,
    n_items: int,
    norm: str,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> BipartiteOperators:
    """The normalised operators of a (user, item) pair list; duplicate pairs are summed.

    ``symmetric``: D_u^-1/2 G D_i^-1/2 and its transpose; ``row``: the code's ``csr_norm``,
    D_u^-1/2 G and D_i^-1/2 G^T (rows scaled, columns not).
    """
    graph = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items), dtype=np.float32
    )
    user_degree = np.asarray(graph.sum(axis=1)).ravel()
    item_degree = np.asarray(graph.sum(axis=0)).ravel()
    user_scale = sp.diags(_inverse_sqrt(user_degree))
    item_scale = sp.diags(_inverse_sqrt(item_degree))
    if norm == "symmetric":
        forward = user_scale @ graph @ item_scale
        backward = forward.T
    else:
        forward = user_scale @ graph
        backward = item_scale @ graph.T
    return BipartiteOperators(*(
        to_torch_csr(m.astype(np.float64), dtype).to(device) for m in (forward, backward, forward.T, backward.T)
    ))


def _inverse_sqrt(degree: np.ndarray) -> np.ndarray:
    """(degree + 1e-8)^-1/2 as the code's ``csr_norm``; 0 for empty rows (their values are 0 anyway)."""
    return np.where(degree > 0, (degree + 1e-8) ** -0.5, 0.0).astype(np.float32)


def assigned_items(topk: torch.Tensor, pairing: str) -> torch.Tensor:
    """``[B, k]``: the items each batch user is linked to, under the pairing rule."""
    if pairing == "own" or topk.shape[1] == 0:
        return topk
    n, k = topk.shape
    flat = topk.reshape(-1)
    positions = torch.arange(n, device=topk.device)[:, None] + n * torch.arange(k, device=topk.device)[None, :]
    return flat[positions]


class GeneratedGraph:
    """One modality's generated user-item graph, its update schedule and its current matrices."""

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
        self.train_users = coo.row.astype(np.int64)
        self.train_items = coo.col.astype(np.int64)
        self.n_users, self.n_items = train.shape
        self.k, self.schedule, self.pairing = k, schedule, pairing
        self.rebuild_every, self.norm = rebuild_every, norm
        self.latest = np.zeros((self.n_users, k), dtype=np.int64)
        self.seen = np.zeros(self.n_users, dtype=bool)
        self.pending_users: list[np.ndarray] = []
        self.pending_items: list[np.ndarray] = []
        self.batches_since_rebuild = 0
        self.pairs = (self.train_users, self.train_items)
        self._matrices: BipartiteOperators | None = None

    def matrices(self, like: torch.Tensor) -> BipartiteOperators:
        """The normalised operators of the current graph, on the device and in the dtype of ``like``."""
        current = self._matrices
        if current is None or current.user_item.device != like.device or current.user_item.dtype != like.dtype:
            users, items = self.pairs
            self._matrices = normalised_pair_graph(
                users, items, self.n_users, self.n_items, self.norm, like.device, like.dtype
            )
        return self._matrices

    def update(self, batch_index: int, users: torch.Tensor, topk: torch.Tensor) -> None:
        """Take one batch's top-k lists (``[B, k]`` item ids), after that batch's forward pass."""
        items = assigned_items(topk, self.pairing).cpu().numpy()
        user_ids = users.cpu().numpy()
        if self.schedule == "official":
            if batch_index % self.rebuild_every == 0 and batch_index != 0:
                pair_users = np.concatenate(self.pending_users) if self.pending_users else np.zeros(0, np.int64)
                pair_items = np.concatenate(self.pending_items) if self.pending_items else np.zeros(0, np.int64)
                self._set_pairs(pair_users, pair_items)
                self.pending_users, self.pending_items = [], []
            else:
                self.pending_users.append(np.repeat(user_ids, items.shape[1]))
                self.pending_items.append(items.reshape(-1))
            return
        self.latest[user_ids] = items
        self.seen[user_ids] = True
        self.batches_since_rebuild += 1
        if self.batches_since_rebuild >= self.rebuild_every:
            self.batches_since_rebuild = 0
            self._rebuild_rolling()

    def _rebuild_rolling(self) -> None:
        seen_users = np.flatnonzero(self.seen)
        keep = ~self.seen[self.train_users]
        users = np.concatenate([self.train_users[keep], np.repeat(seen_users, self.k)])
        items = np.concatenate([self.train_items[keep], self.latest[seen_users].reshape(-1)])
        self._set_pairs(users, items)

    def _set_pairs(self, users: np.ndarray, items: np.ndarray) -> None:
        self.pairs = (users, items)
        self._matrices = None

    def n_edges(self) -> int:
        return len(self.pairs[0])

    def state(self) -> dict[str, Any]:
        """Everything needed to continue the schedule exactly, as tensors and ints."""
        pending_users = np.concatenate(self.pending_users) if self.pending_users else np.zeros(0, np.int64)
        pending_items = np.concatenate(self.pending_items) if self.pending_items else np.zeros(0, np.int64)
        return {
            "latest": torch.from_numpy(self.latest.copy()),
            "seen": torch.from_numpy(self.seen.copy()),
            "pending_users": torch.from_numpy(pending_users),
            "pending_items": torch.from_numpy(pending_items),
            "pair_users": torch.from_numpy(self.pairs[0].copy()),
            "pair_items": torch.from_numpy(self.pairs[1].copy()),
            "batches_since_rebuild": self.batches_since_rebuild,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.latest = state["latest"].numpy().copy()
        self.seen = state["seen"].numpy().copy()
        pending_users, pending_items = state["pending_users"].numpy(), state["pending_items"].numpy()
        self.pending_users = [pending_users.copy()] if len(pending_users) else []
        self.pending_items = [pending_items.copy()] if len(pending_items) else []
        self.batches_since_rebuild = int(state["batches_since_rebuild"])
        self._set_pairs(state["pair_users"].numpy().copy(), state["pair_items"].numpy().copy())
