"""LightGCN (He et al., SIGIR 2020): ID embeddings smoothed over the user-item graph.

Embeddings are propagated over the symmetrically normalised bipartite graph without weights or
non-linearities; the final embedding is the mean of layers 0..L. The L2 penalty acts on the
layer-0 (ego) embeddings of the batch, as in the paper's code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmbench.config import TrainConfig
from mmbench.data.dataset import TrainView
from mmbench.models.base import BprBatch, PropagatedEmbeddingModel
from mmbench.models.embeddings import id_embeddings
from mmbench.models.graph import layer_mean_propagation, symmetric_bipartite_adjacency
from mmbench.models.losses import dot_bpr_loss, l2_penalty
from mmbench.search_space import FloatParam, IntParam


@dataclass(frozen=True)
class LightGCNConfig(TrainConfig):
    embedding_dim: int = 64
    n_layers: int = 3
    reg_weight: float = 1e-4


class LightGCN(PropagatedEmbeddingModel):
    """LightGCN (He et al., SIGIR 2020): layer-averaged graph propagation of user and item ID embeddings."""

    config_class = LightGCNConfig
    search_space = {
        "lr": FloatParam(1e-4, 1e-2, log=True),
        "reg_weight": FloatParam(1e-6, 1e-2, log=True),
        "n_layers": IntParam(1, 4),
    }

    def __init__(self, view: TrainView, config: LightGCNConfig) -> None:
        super().__init__(view, config)
        self.user_embedding, self.item_embedding = id_embeddings(view.n_users, view.n_items, config.embedding_dim)
        self.register_buffer("adjacency", symmetric_bipartite_adjacency(view.train), persistent=False)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings: the mean over layers 0..n_layers."""
        embeddings = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        mean = layer_mean_propagation(self.adjacency, embeddings, self.config.n_layers)
        return mean[: self.n_users], mean[self.n_users :]

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        users_all, items_all = self.propagate()
        users = users_all[batch.users]
        pos = items_all[batch.pos_items]
        neg = items_all[batch.neg_items]
        ranking = dot_bpr_loss(users, pos, neg)
        reg = self.config.reg_weight * l2_penalty(
            self.user_embedding(batch.users),
            self.item_embedding(batch.pos_items),
            self.item_embedding(batch.neg_items),
        )
        return {"loss": ranking + reg, "bpr": ranking, "reg": reg}
