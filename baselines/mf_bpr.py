"""MF-BPR: matrix factorisation trained with Bayesian personalised ranking (Rendle et al., UAI 2009).

The ID-only reference every multimodal model must beat. Score = <p_u, q_i>; loss = BPR plus an L2
penalty on the embeddings of the batch (divided by the batch size), as in the LATTICE/MMSSL code
lineage whose table we compare against.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mmbench.config import TrainConfig
from mmbench.data.dataset import TrainView
from mmbench.models.base import BprBatch, RecModel
from mmbench.models.embeddings import id_embeddings
from mmbench.models.losses import dot_bpr_loss, l2_penalty
from mmbench.search_space import FloatParam, IntParam


@dataclass(frozen=True)
class MFBPRConfig(TrainConfig):
    embedding_dim: int = 64
    reg_weight: float = 1e-5


class MFBPR(RecModel):
    """MF-BPR (Rendle et al., UAI 2009): user and item ID embeddings scored by dot product, trained with BPR."""

    config_class = MFBPRConfig
    search_space = {
        "lr": FloatParam(1e-4, 1e-2, log=True),
        "reg_weight": FloatParam(1e-6, 1e-2, log=True),
        "embedding_dim": IntParam(32, 128, log=True),
    }

    def __init__(self, view: TrainView, config: MFBPRConfig) -> None:
        super().__init__(view, config)
        self.user_embedding, self.item_embedding = id_embeddings(view.n_users, view.n_items, config.embedding_dim)

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        users = self.user_embedding(batch.users)
        pos = self.item_embedding(batch.pos_items)
        neg = self.item_embedding(batch.neg_items)
        ranking = dot_bpr_loss(users, pos, neg)
        reg = self.config.reg_weight * l2_penalty(users, pos, neg)
        return {"loss": ranking + reg, "bpr": ranking, "reg": reg}

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_embedding(users) @ self.item_embedding.weight.T
