"""VBPR: visual Bayesian personalised ranking (He & McAuley, AAAI 2016), for any set of modalities.

The paper extends biased matrix factorisation with a content term: each user gets a second
embedding theta_u that is matched against a learned linear embedding E f_i of the item's content
features f_i, plus a global content bias beta'. It is the first multimodal baseline in the
LATTICE/MMSSL and MMRec tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mmbench.config import TrainConfig
from mmbench.data.dataset import TrainView
from mmbench.errors import ConfigError
from mmbench.models.base import BprBatch, RecModel, Scorer
from mmbench.models.losses import bpr_loss, l2_penalty
from mmbench.search_space import Categorical, FloatParam


@dataclass(frozen=True)
class VBPRConfig(TrainConfig):
    """VBPR's settings; ``lr`` and ``batch_size`` keep TrainConfig's (MMRec's overall.yaml) values.

    The paper trains with per-triple SGD and tunes its regularisers on validation; those values do
    not carry over to Adam on a batch-mean loss, so the loss weights follow the LATTICE/MMSSL code
    lineage that our comparison table comes from.
    """

    # K + K' in the paper's notation: 64 in total, the size every model of the LATTICE/MMSSL
    # table uses, so that VBPR and MF-BPR are compared at the same total dimension.
    embedding_dim: int = 64
    # K', the part of embedding_dim given to theta_u and E f_i. The paper leaves the split as a
    # hyperparameter; an equal split is our default (Cornac's VBPR defaults to k = k2 as well).
    content_dim: int = 32
    # lambda_Theta, on the batch's gamma_u, theta_u, gamma_i and beta_i (l2_penalty form): the
    # LATTICE/MMSSL embedding weight regs[0] = 1e-5, the one MF-BPR uses here too.
    reg_weight: float = 1e-5
    # lambda_E, on E and beta' (half their squared norm, added at every batch). The authors leave
    # E and beta' unregularised (their WWW'16 follow-up says so, and why: a small, fixed number of
    # parameters), but under SGD. Under Adam each entry of E moves by about lr per step whatever
    # the feature scale, so the content scores E f_i move about lr * |f_i|_1 per step, far faster
    # than the ID part on raw image features, and overfit. The runs that set 0.1 are in
    # docs/reproduction-notes-baselines.md ("VBPR departure").
    content_reg_weight: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.content_dim < self.embedding_dim:
            raise ConfigError(
                f"config key 'content_dim' must be between 1 and embedding_dim - 1 "
                f"({self.embedding_dim - 1}), got {self.content_dim}"
            )


class VBPR(RecModel):
    """VBPR (He & McAuley, AAAI 2016): ID factors plus a linear projection of the item features.

    score(u, i) = beta_i + gamma_u . gamma_i + theta_u . (E f_i) + beta' . f_i, trained with BPR.

    f_i is the concatenation of all the dataset's modalities (``view.modalities`` order), used raw
    as the paper uses its CNN features: E is linear, so any per-modality scale is absorbed by E.
    Concatenating is exactly "one E_m per modality, summed": E [f_1; f_2] = E_1 f_1 + E_2 f_2, and
    likewise for beta'; one matrix keeps it to one product and one parameter to inspect.

    Deliberate choices, against the paper:

    - the global offset alpha and the user bias beta_u are left out: they add the same amount to
      every item of a user, so they cancel in the BPR difference x_ui - x_uj (they never receive
      a gradient) and never change a ranking;
    - Adam on the batch mean of the BPR loss instead of per-triple SGD; lambda_Theta acts on the
      parameters of the batch's triples, as the paper's SGD update does, divided by the batch
      size to match the mean;
    - E and beta' are regularised by default (``content_reg_weight``; the paper's lambda_E = 0
      overfits under Adam, see the config);
    - several modalities instead of the visual one only (see above).

    Against MMRec's VBPR, which departs from the paper: the item bias beta_i and the content bias
    beta' are kept (MMRec drops all biases), E has no bias vector (MMRec's nn.Linear adds one),
    the penalty is on squared norms of the parameters, with a separate weight for E and beta'
    (MMRec puts a norm penalty on the final vectors), and training projects only the batch's
    items instead of the whole catalogue at every batch.
    """

    config_class = VBPRConfig
    needs_features = True
    search_space = {
        "lr": FloatParam(1e-4, 1e-2, log=True),
        "reg_weight": FloatParam(1e-6, 1e-2, log=True),
        "content_reg_weight": FloatParam(1e-3, 10.0, log=True),
        # the total stays 64, so the comparison with MF-BPR stays at equal dimension
        "content_dim": Categorical([16, 32, 48]),
    }

    def __init__(self, view: TrainView, config: VBPRConfig) -> None:
        super().__init__(view, config)
        self.modalities = view.modalities
        features = np.concatenate([view.features[name] for name in self.modalities], axis=1)
        features = torch.from_numpy(features.astype(np.float32))
        self.register_buffer("features", features, persistent=False)
        id_dim = config.embedding_dim - config.content_dim
        self.user_id = nn.Embedding(view.n_users, id_dim)  # gamma_u
        self.user_content = nn.Embedding(view.n_users, config.content_dim)  # theta_u
        self.item_id = nn.Embedding(view.n_items, id_dim)  # gamma_i
        self.item_bias = nn.Embedding(view.n_items, 1)  # beta_i
        self.projection = nn.Linear(features.shape[1], config.content_dim, bias=False)  # E
        self.content_bias = nn.Linear(features.shape[1], 1, bias=False)  # beta'
        for table in (self.user_id, self.user_content, self.item_id):
            nn.init.xavier_uniform_(table.weight)
        nn.init.xavier_uniform_(self.projection.weight)
        nn.init.zeros_(self.item_bias.weight)
        nn.init.zeros_(self.content_bias.weight)

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        """[gamma_u; theta_u] for each user."""
        return torch.cat([self.user_id(users), self.user_content(users)], dim=-1)

    def item_terms(self, items: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """([gamma_i; E f_i], beta_i + beta' . f_i) for ``items``, or for every item when None."""
        if items is None:
            ids, biases, features = self.item_id.weight, self.item_bias.weight, self.features
        else:
            ids, biases, features = self.item_id(items), self.item_bias(items), self.features[items]
        vectors = torch.cat([ids, self.projection(features)], dim=-1)
        return vectors, (biases + self.content_bias(features)).squeeze(-1)

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        users = self.user_vectors(batch.users)
        pos_vectors, pos_bias = self.item_terms(batch.pos_items)
        neg_vectors, neg_bias = self.item_terms(batch.neg_items)
        pos_scores = (users * pos_vectors).sum(-1) + pos_bias
        ranking = bpr_loss(pos_scores, (users * neg_vectors).sum(-1) + neg_bias)
        reg = self.config.reg_weight * l2_penalty(
            users,
            self.item_id(batch.pos_items),
            self.item_id(batch.neg_items),
            self.item_bias(batch.pos_items),
            self.item_bias(batch.neg_items),
        )
        content_reg = self.config.content_reg_weight * 0.5 * (
            self.projection.weight.pow(2).sum() + self.content_bias.weight.pow(2).sum()
        )
        return {"loss": ranking + reg + content_reg, "bpr": ranking, "reg": reg + content_reg}

    def score(self, users: torch.Tensor) -> torch.Tensor:
        vectors, biases = self.item_terms()
        return self.user_vectors(users) @ vectors.T + biases

    def scorer(self) -> Scorer:
        vectors, biases = self.item_terms()
        return lambda users: self.user_vectors(users) @ vectors.T + biases
