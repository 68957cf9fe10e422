"""Tiny datasets built in memory for tests: fast, seeded, with every split non-empty."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mmbench.data.dataset import Dataset


def tiny_dataset(
    n_users: int = 30, n_items: int = 60, seed: int = 0, audio_dim: int | None = None
) -> Dataset:
    """Each user gets 6 distinct items (4 train, 1 valid, 1 test); every item is used.

    Users take consecutive slices of concatenated item permutations, so ``n_items`` must be a
    multiple of 6 for the slices not to straddle two permutations. Items have an 8-d ``image``
    modality; ``audio_dim`` adds a second, ``audio`` modality of that width (drawn after the
    image features, so the default dataset is unchanged).
    """
    rng = np.random.default_rng(seed)
    blocks = -(-n_users * 6 // n_items)
    slots = np.concatenate([rng.permutation(n_items) for _ in range(blocks)])
    rows: dict[str, tuple[list[int], list[int]]] = {"train": ([], []), "valid": ([], []), "test": ([], [])}
    for user in range(n_users):
        items = slots[6 * user : 6 * user + 6]
        for split, chosen in (("train", items[:4]), ("valid", items[4:5]), ("test", items[5:])):
            rows[split][0].extend([user] * len(chosen))
            rows[split][1].extend(chosen.tolist())

    def matrix(split: str) -> sp.csr_matrix:
        users, items = rows[split]
        return sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(n_users, n_items))

    features = {"image": rng.normal(size=(n_items, 8)).astype(np.float32)}
    if audio_dim is not None:
        features["audio"] = rng.normal(size=(n_items, audio_dim)).astype(np.float32)
    return Dataset(n_users, n_items, matrix("train"), matrix("valid"), matrix("test"), features)


def interaction_rows(dataset: Dataset) -> list[tuple[int, int, int]]:
    """(user, item, x_label) triples of a dataset, for writing it in the MMRec layout."""
    rows = []
    for label, split in enumerate((dataset.train, dataset.valid, dataset.test)):
        users, items = split.nonzero()
        rows.extend(zip(users.tolist(), items.tolist(), [label] * len(users)))
    return sorted(rows)
