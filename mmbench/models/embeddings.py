"""The user and item ID embedding tables that most models start from."""

from __future__ import annotations

from torch import nn


def id_embeddings(n_users: int, n_items: int, dim: int) -> tuple[nn.Embedding, nn.Embedding]:
    """User and item embedding tables of width ``dim``, Xavier-uniform initialised.

    Both tables are created before either is initialised, so that a seed draws the same weights
    as the models' original two-step construction did (their recorded runs stay reproducible).
    """
    users = nn.Embedding(n_users, dim)
    items = nn.Embedding(n_items, dim)
    nn.init.xavier_uniform_(users.weight)
    nn.init.xavier_uniform_(items.weight)
    return users, items
