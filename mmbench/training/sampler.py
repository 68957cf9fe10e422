"""Uniform BPR negative sampling, vectorised.

An epoch visits every training interaction once, in a random order; each positive gets one item
drawn uniformly from the catalogue, redrawn while it is one of the user's training items (the
rejection is done for the whole batch at once, with a sorted-key membership test).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import scipy.sparse as sp

from mmbench.errors import DataError


class BprSampler:
    """Yields (users, positive items, negative items) int64 arrays for one epoch at a time."""

    def __init__(self, train: sp.csr_matrix, batch_size: int, rng: np.random.Generator) -> None:
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

    def __len__(self) -> int:
        """Batches per epoch."""
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
        order = self.rng.permutation(len(self.users))
        for start in range(0, len(order), self.batch_size):
            picked = order[start : start + self.batch_size]
            users = self.users[picked]
            yield users, self.items[picked], self.sample_negatives(users)
