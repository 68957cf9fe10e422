"""Uniform BPR negative sampling, vectorised.

Two ways to form batches (``TrainConfig.sampling``):

- ``interactions``: an epoch visits every training interaction once, in a random order;
- ``users`` (the LATTICE/MMSSL code lineage's ``Data.sample``): each batch holds ``batch_size``
  distinct users drawn uniformly among users with training items, each with one positive drawn
  uniformly from its training items; an epoch has ``n_train // batch_size + 1`` batches.

Each positive gets one negative drawn uniformly from the catalogue, redrawn while it is one of the
user's training items (the rejection is done for the whole batch at once, with a sorted-key
membership test).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import scipy.sparse as sp

from mmbench.errors import DataError


class BprSampler:
    """Yields (users, positive items, negative items) int64 arrays for one epoch at a time."""

    def __init__(
        self, train: sp.csr_matrix, batch_size: int, rng: np.random.Generator, mode: str = "interactions"
    ) -> None:
        coo = train.tocoo()
        self.n_items = train.shape[1]
        order = np.lexsort((coo.col, coo.row))
        self.users = coo.row[order].astype(np.int64)
        self.items = coo.col[order].astype(np.int64)
        if len(self.users) == 0:
            raise DataError("the training split has no interaction to sample from")
        degree = np.bincount(self.users, minlength=train.shape[0])
        if (degree >= self.n_items).any():
            full = int(np.flatnonzero(degree >= self.n_items)[0])
            raise DataError(f"user {full} has every item in train, so no negative item exists")
        self.keys = self.users * self.n_items + self.items
        self.batch_size = batch_size
        self.rng = rng
        self.mode = mode
        self.user_start = np.concatenate([[0], np.cumsum(degree)])[:-1]
        self.user_degree = degree
        self.active_users = np.flatnonzero(degree > 0)

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.mode == "users":
            return len(self.users) // self.batch_size + 1
        return -(-len(self.users) // self.batch_size)

    def is_training_pair(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Boolean mask: which (user, item) pairs are training interactions."""
        keys = users * self.n_items + items
        position = np.searchsorted(self.keys, keys)
        position = np.minimum(position, len(self.keys) - 1)
        return self.keys[position] == keys

    def sample_negatives(self, users: np.ndarray) -> np.ndarray:
        negatives = self.rng.integers(0, self.n_items, size=len(users))
        redraw = self.is_training_pair(users, negatives)
        while redraw.any():
            negatives[redraw] = self.rng.integers(0, self.n_items, size=int(redraw.sum()))
            redraw[redraw] = self.is_training_pair(users[redraw], negatives[redraw])
        return negatives

    def epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if self.mode == "users":
            yield from self._user_epoch()
            return
        order = self.rng.permutation(len(self.users))
        for start in range(0, len(order), self.batch_size):
            picked = order[start : start + self.batch_size]
            users = self.users[picked]
            yield users, self.items[picked], self.sample_negatives(users)

    def _user_epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        size = min(self.batch_size, len(self.active_users))
        for _ in range(len(self)):
            users = self.rng.choice(self.active_users, size=size, replace=False)
            offsets = self.rng.integers(0, self.user_degree[users])
            positives = self.items[self.user_start[users] + offsets]
            yield users, positives, self.sample_negatives(users)
