"""BM3 (Zhou et al., "Bootstrap Latent Representations for Multi-modal Recommendation", WWW 2023).

BM3 trains without negative items and without an augmented graph. A LightGCN encoder over user and
item ID embeddings gives h_u and h_i (items keep a residual of their ID embedding); each modality's
raw features are projected into the same latent space by a linear layer, h_i^m = W_m f_i^m + b_m.
A predictor p(x) = W_p x + b_p, shared by users, items and every modality, gives the *online*
views; the *target* views are dropout copies of the encoder outputs, with the gradient stopped.
With C(a, b) = 1 - cos(a, b), averaged over the batch's (user, positive item) pairs:

- graph reconstruction: L_rec = C(p(h_u), sg(drop(h_i))) + C(p(h_i), sg(drop(h_u)));
- inter-modality feature alignment: L_align = sum_m C(p(h_i^m), sg(drop(h_i)));
- intra-modality feature masking: L_mask = sum_m C(p(h_i^m), sg(drop(h_i^m)));
- L = L_rec + cl_weight * (L_align + L_mask) + reg_weight * (||H_u||_F + ||H_i||_F) / n_items.

Items are ranked by <p(h_u), p(h_i)>: the online (predictor) embeddings, as the paper and the
authors' code do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmbench.config import TrainConfig, require_at_least, require_dropout
from mmbench.data.dataset import TrainView
from mmbench.models.base import BprBatch, PropagatedEmbeddingModel
from mmbench.models.embeddings import id_embeddings
from mmbench.models.graph import layer_mean_propagation, symmetric_bipartite_adjacency
from mmbench.models.losses import norm_penalty
from mmbench.search_space import FloatParam, IntParam


@dataclass(frozen=True)
class BM3Config(TrainConfig):
    """BM3's settings. Sources: MMRec ``src/configs/model/BM3.yaml`` (embedding_size 64,
    n_layers [1, 2], dropout [0.3, 0.5], reg_weight [0.1, 0.01], cl_weight 2.0,
    use_neg_sampling False) and ``src/configs/overall.yaml`` (Adam, learning_rate 0.001,
    train_batch_size 2048, epochs 1000, stopping_step 20, eval_step 1, weight_decay 0: the
    TrainConfig defaults, kept). Where the yaml gives a grid, the default is the best Baby setting
    of the authors' README (enoche/BM3 ``README.md``: layers 1, dropout 0.5, reg_weight 0.1), the
    dataset their README runs; :attr:`BM3.dataset_presets` holds their Sports and Elec settings.
    """

    # embedding_size: 64. The yaml's feat_embed_dim is unused by the code, which projects the
    # features to embedding_size; the shared predictor needs both widths equal, so there is one.
    embedding_dim: int = 64
    # LightGCN layers of the encoder (grid [1, 2]; README best: Baby 1, Sports 1, Elec 2).
    n_layers: int = 1
    # Dropout ratio of the target views (grid [0.3, 0.5]; README best: Baby 0.5, Sports 0.5, Elec 0.3).
    dropout: float = 0.5
    # Weight of the norm penalty on all encoder outputs (grid [0.1, 0.01]; README best: Baby 0.1,
    # Sports 0.01, Elec 0.1). Not l2_penalty's form: see BM3's docstring.
    reg_weight: float = 0.1
    # Weight of L_align + L_mask: cl_weight 2.0 in the yaml (not tuned there).
    cl_weight: float = 2.0
    # False: the raw features are fixed inputs, as in the paper's h_m = e_m W_m + b_m. True: they
    # are trained too, as in the authors' code (nn.Embedding.from_pretrained(..., freeze=False)).
    train_features: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least(self, 1, "embedding_dim")
        require_at_least(self, 0, "n_layers")
        require_dropout(self, "dropout")
        require_at_least(self, 0, "reg_weight", "cl_weight")


def cosine_loss(online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - the mean row-wise cosine between ``online`` and ``target``; no gradient reaches ``target``."""
    return 1.0 - F.cosine_similarity(online, target.detach(), dim=-1).mean()


class ModalityProjection(nn.Module):
    """One modality: its raw item features and the linear map h_i^m = W_m f_i^m + b_m."""

    def __init__(self, features: np.ndarray, embedding_dim: int, trainable: bool) -> None:
        super().__init__()
        raw = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        if trainable:
            self.features = nn.Parameter(raw)
        else:
            # Non-persistent: fixed features are rebuilt from the data, not checkpointed.
            self.register_buffer("features", raw, persistent=False)
        self.projection = nn.Linear(raw.shape[1], embedding_dim)
        nn.init.xavier_normal_(self.projection.weight)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """h_i^m of the given items."""
        return self.projection(self.features[items])


class BM3(PropagatedEmbeddingModel):
    """BM3: bootstrapped latent views and a negative-free multi-modal contrastive loss (WWW 2023).

    The shared trainer hands every model a :class:`BprBatch` of (users, pos_items, neg_items).
    BM3 uses only (users, pos_items) and ignores ``neg_items``: its loss has no negative term, and
    the sampler's negatives are simply not read (the trainer's "interactions" sampling visits every
    training pair once per epoch in shuffled batches, as MMRec's loader does for BM3's
    ``use_neg_sampling: False``).

    Written from the paper, checked against the authors' code (enoche/BM3 ``src/models/bm3.py``,
    the same as MMRec ``src/models/bm3.py``). Where the code departs from the paper, and which we
    follow:

    - Loss weights: the code multiplies L_align + L_mask by ``cl_weight`` (2.0 in its yaml); our
      reading of the paper's total loss adds the three terms with weight 1. We follow the code
      (``cl_weight=2.0``; ``cl_weight=1`` gives the paper's sum).
    - Regulariser: the code's ``EmbLoss`` adds the *unsquared* Frobenius norms of the full user
      and item encoder outputs (every user and item, before the predictor) and divides by the
      number of items; the paper writes an L2 penalty on the embeddings, with no such scaling.
      We follow the code, because the published reg_weight values (0.1, 0.01) are values for
      that form (:func:`norm_penalty`); ``l2_penalty`` at 0.1 would be a far stronger penalty.
    - C(a, b): the paper's negative cosine; the code's 1 - cosine. They differ by a constant; we
      use 1 - cosine so that logged parts are non-negative.
    - Raw features: fixed in the paper, trained in the code; fixed by default here,
      ``train_features=True`` gives the code's behaviour.
    - Graph normalisation: the paper writes D^-1/2 (A + I) D^-1/2; the code (and we, through the
      shared ``symmetric_bipartite_adjacency``) use D^-1/2 A D^-1/2 without self-loops, with the
      LightGCN mean over layers 0..L and the item ID residual of both.

    Deliberate differences of ours from the code:

    - Dropout masks are drawn per batch row; the code drops out the full user and item matrices
      (and the full projected features) and then takes the batch's rows, so a user or item that
      appears twice in a batch shares one mask there. Each row's distribution is the same.
    - Modality projections are computed for the batch's items only (the code projects every item
      at every batch and then takes the batch's rows): the same values, less work.
    - Any number of modalities, named by the dataset's ``*_feat.npy`` files; the code has exactly
      image and text. L_align and L_mask sum over modalities, as the code adds its image and text
      terms.
    - No learning-rate scheduler: MMRec's ``learning_rate_scheduler: [1.0, 50]`` multiplies the
      rate by 1.0, i.e. none, so nothing is lost.
    """

    config_class = BM3Config
    needs_features = True
    # The authors' grid (n_layers {1, 2}, dropout {0.3, 0.5}, reg_weight {0.1, 0.01}) and around it.
    search_space = {
        "lr": FloatParam(1e-4, 1e-2, log=True),
        "n_layers": IntParam(1, 3),
        "dropout": FloatParam(0.1, 0.7),
        "reg_weight": FloatParam(1e-3, 1.0, log=True),
        "cl_weight": FloatParam(0.1, 5.0, log=True),
    }
    # The authors' README best settings (enoche/BM3 README.md, Table III runs). None are given for
    # TikTok or Last.fm-2K, so those datasets use the defaults (the Baby setting).
    dataset_presets = {
        "baby": {"n_layers": 1, "dropout": 0.5, "reg_weight": 0.1},
        "sports": {"n_layers": 1, "dropout": 0.5, "reg_weight": 0.01},
        "elec": {"n_layers": 2, "dropout": 0.3, "reg_weight": 0.1},
    }

    def __init__(self, view: TrainView, config: BM3Config) -> None:
        super().__init__(view, config)
        dim = config.embedding_dim
        self.user_embedding, self.item_embedding = id_embeddings(view.n_users, view.n_items, dim)
        self.predictor = nn.Linear(dim, dim)
        nn.init.xavier_normal_(self.predictor.weight)
        self.modality_projections = nn.ModuleList(
            ModalityProjection(view.features[name], dim, config.train_features) for name in view.modalities
        )
        self.register_buffer("adjacency", symmetric_bipartite_adjacency(view.train), persistent=False)

    def encode(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder outputs h_u [n_users, d] and h_i [n_items, d]: the LightGCN mean over layers
        0..n_layers, plus the item ID embedding for items."""
        embeddings = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        mean = layer_mean_propagation(self.adjacency, embeddings, self.config.n_layers)
        return mean[: self.n_users], mean[self.n_users :] + self.item_embedding.weight

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The online embeddings p(h_u), p(h_i) that scoring multiplies."""
        users, items = self.encode()
        return self.predictor(users), self.predictor(items)

    def target_view(self, online: torch.Tensor) -> torch.Tensor:
        """The bootstrapped target view: a dropout copy of ``online`` with the gradient stopped.

        Dropout is on whatever the module's mode: it defines the target, it is not a train-time
        regulariser (the code calls ``F.dropout`` with its default ``training=True`` too).
        """
        return F.dropout(online.detach(), self.config.dropout, training=True)

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        """The negative-free loss of the batch's (user, positive item) pairs; ``neg_items`` is not read."""
        users_all, items_all = self.encode()
        users = users_all[batch.users]
        items = items_all[batch.pos_items]
        users_target, items_target = self.target_view(users), self.target_view(items)
        users_online, items_online = self.predictor(users), self.predictor(items)
        rec = cosine_loss(users_online, items_target) + cosine_loss(items_online, users_target)
        align = users.new_zeros(())
        mask = users.new_zeros(())
        for modality in self.modality_projections:
            projected = modality(batch.pos_items)
            online = self.predictor(projected)
            align = align + cosine_loss(online, items_target)
            mask = mask + cosine_loss(online, self.target_view(projected))
        reg = self.config.reg_weight * norm_penalty(users_all, items_all)
        total = rec + self.config.cl_weight * (align + mask) + reg
        return {"loss": total, "rec": rec, "align": align, "mask": mask, "reg": reg}
