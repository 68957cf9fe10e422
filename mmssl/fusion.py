"""Fusing the modality-specific ID embeddings of MMSSL into one vector per node.

``attention`` is multi-head softmax self-attention over the modality tokens of a node (the
paper's description), averaged over the query modalities. ``linear`` is what the released code's
"attention" reduces to (the digest's section 2.4: the softmax weights sum to one over the key axis
and multiply a value indexed by the query, so they cancel): the mean over modalities of one linear
map, parametrised like the code as the sum of ``heads`` blocks of a [heads * d, d] matrix.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn


class ModalityFusion(nn.Module):
    """Maps M tensors of shape ``[N, d]`` (one per modality) to one ``[N, d]`` tensor."""

    def __init__(self, dim: int, heads: int, kind: str) -> None:
        super().__init__()
        self.dim, self.heads, self.kind = dim, heads, kind
        if kind == "attention":
            self.query = nn.Linear(dim, dim, bias=False)
            self.key = nn.Linear(dim, dim, bias=False)
            self.value = nn.Linear(dim, dim, bias=False)
            for layer in (self.query, self.key, self.value):
                nn.init.xavier_uniform_(layer.weight)
        else:
            self.blocks = nn.Parameter(torch.empty(heads * dim, dim))
            nn.init.xavier_uniform_(self.blocks)

    def forward(self, tokens: Sequence[torch.Tensor]) -> torch.Tensor:
        if self.kind == "linear":
            weight = self.blocks.view(self.heads, self.dim, self.dim).sum(0)
            return torch.stack([t @ weight for t in tokens]).mean(0)
        stacked = torch.stack(list(tokens), dim=1)
        n, m, _ = stacked.shape
        head_dim = self.dim // self.heads
        split = lambda x: x.view(n, m, self.heads, head_dim)  # noqa: E731
        query, key, value = split(self.query(stacked)), split(self.key(stacked)), split(self.value(stacked))
        weights = torch.softmax(torch.einsum("nqhd,nkhd->nhqk", query, key) / math.sqrt(head_dim), dim=-1)
        attended = torch.einsum("nhqk,nkhd->nqhd", weights, value).reshape(n, m, self.dim)
        return attended.mean(1)
