"""MGCN (Yu et al., "Multi-View Graph Convolutional Network for Multimedia Recommendation", ACM MM 2023).

MGCN keeps item content away from the collaborative signal until the very end. It has three parts:

1. Behaviour-guided purifier. Each modality m is projected, e_m = W1_m x_m + b1_m. The result
   gates the item's ID embedding element-wise: p_m = e_id * sigmoid(W2_m e_m + b2_m). So an item's
   purified modality feature is a masked copy of its own behaviour (ID) embedding, and only the
   directions of the ID embedding that its content supports pass.
2. Two views, each propagated on its own graph.
   - User-item view: LightGCN on the ID embeddings over D^-1/2 A D^-1/2 of the training graph,
     with the mean over layers 0..L.
   - Item-item view: a frozen kNN item graph per modality, built once from that modality's raw
     features. The purified features are multiplied by it ``n_ii_layers`` times. A user's
     modality embedding is then R h_m, where R is the user-item block of the same normalised
     user-item matrix.
3. Behaviour-aware fuser. One attention network is shared by the modalities. Its softmax weights
   over modalities mix the modality views into a modality-shared part s. Each modality-specific
   part (view minus s) is gated by sigmoid(W3_m e_ui + b3_m), a function of the node's
   user-item-view embedding. The multimodal embedding is the mean of s and the |M| gated specific
   parts. The final embedding is e_ui + multimodal, and scores are dot products.

Training minimises BPR on the final embeddings, plus an L2 penalty on them and ``cl_weight``
times an in-batch InfoNCE. The InfoNCE pairs the multimodal and the user-item-view embeddings of
the batch's users, and of its positive items. All item graphs are sparse with ``knn_k`` entries
per row (:mod:`mmbench.models.knn`), never n_items^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mmbench.config import TrainConfig, require_at_least, require_choice, require_positive
from mmbench.data.dataset import TrainView
from mmbench.errors import ConfigError
from mmbench.models.base import AblationVariant, BprBatch, PropagatedEmbeddingModel
from mmbench.models.embeddings import id_embeddings
from mmbench.models.graph import (
    layer_mean_propagation,
    sparse_matmul,
    symmetric_bipartite_adjacency,
    transpose_csr,
    user_item_block,
)
from mmbench.models.knn import KnnGraph, knn_graph, symmetric_normalise, unweighted
from mmbench.models.losses import info_nce, regularised_bpr
from mmbench.search_space import FloatParam, IntParam

KNN_WEIGHTINGS = ("cosine", "binary")


@dataclass(frozen=True)
class MGCNConfig(TrainConfig):
    """Defaults of the authors' code: enoche/MMRec ``src/configs/model/MGCN.yaml``, the same as
    demonph10/MGCN ``src/configs/model/MGCN.yaml``.

    - From the model yaml: embedding_size 64, n_ui_layers 2, n_layers 1 (here ``n_ii_layers``),
      knn_k 10, reg_weight 1e-4 and learning_rate 1e-3.
    - ``cl_weight`` is the yaml's ``cl_loss``. MMRec's yaml makes it a grid [0.001, 0.01, 0.1];
      the authors' repo fixes it at 0.01, which is the default here.
    - ``cl_temperature`` 0.2 is the value that ``calculate_loss`` passes to its InfoNCE. The
      unused ``self.tau = 0.5`` in the code plays no part.
    - The training settings (epochs 1000, batch 2048, Adam, lr 1e-3, evaluation every epoch)
      are MMRec's ``src/configs/overall.yaml`` values. They equal the :class:`TrainConfig`
      defaults and are inherited. Patience 20 is MMRec's ``stopping_step``; the authors' repo
      uses 10.

    Options of mmbench's own:

    - ``knn_weighting``: ``cosine`` keeps each kept edge's cosine before the D^-1/2 S D^-1/2
      normalisation, as MGCN's ``build_knn_normalized_graph`` does. ``binary`` gives every
      kept edge weight 1, the FREEDOM/BM3 construction.
    - ``finetune_features``: True trains the raw features too, as the code does
      (``nn.Embedding.from_pretrained(..., freeze=False)``). The default keeps them fixed, as
      the paper does.
    - ``knn_block_size``: how many rows of similarities are computed at once when the kNN
      graphs are built. It changes memory, not the result.
    """

    embedding_dim: int = 64
    n_ui_layers: int = 2
    n_ii_layers: int = 1
    knn_k: int = 10
    reg_weight: float = 1e-4
    cl_weight: float = 0.01
    cl_temperature: float = 0.2
    knn_weighting: str = "cosine"
    finetune_features: bool = False
    knn_block_size: int = 1024

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least(self, 1, "embedding_dim", "knn_k", "knn_block_size")
        require_at_least(self, 0, "n_ui_layers", "n_ii_layers", "reg_weight", "cl_weight")
        require_positive(self, "cl_temperature")
        require_choice(self, "knn_weighting", KNN_WEIGHTINGS)


class ModalityBranch(nn.Module):
    """One modality: its raw features, its frozen kNN item graph, the purifier's projection and
    gate, and the fuser's preference gate for this modality's specific part."""

    def __init__(self, features: np.ndarray, config: MGCNConfig) -> None:
        super().__init__()
        raw = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        graph = knn_graph(raw, config.knn_k, config.knn_block_size)
        if config.knn_weighting == "binary":
            graph = unweighted(graph)
        graph = symmetric_normalise(graph)
        # Non-persistent: the graph (and fixed features) are rebuilt from the data, not checkpointed.
        self.register_buffer("graph_indices", graph.indices, persistent=False)
        self.register_buffer("graph_weights", graph.weights, persistent=False)
        if config.finetune_features:
            self.features = nn.Parameter(raw.clone())
        else:
            self.register_buffer("features", raw, persistent=False)
        dim = config.embedding_dim
        self.projection = nn.Linear(raw.shape[1], dim)
        self.gate = nn.Linear(dim, dim)
        self.preference = nn.Linear(dim, dim)

    def item_graph(self) -> KnnGraph:
        """The frozen, normalised kNN item graph of this modality."""
        return KnnGraph(self.graph_indices, self.graph_weights)

    def purify(self, item_ids: torch.Tensor) -> torch.Tensor:
        """e_id * sigmoid(W2 (W1 x + b1) + b2): the ID embeddings masked by this modality."""
        return item_ids * torch.sigmoid(self.gate(self.projection(self.features)))


class MGCN(PropagatedEmbeddingModel):
    """MGCN: behaviour-purified modality features on frozen item graphs, fused by the ID view.

    Written from the paper. The authors' code (demonph10/MGCN, ported to MMRec as
    ``src/models/mgcn.py``) was read for its settings and for what the paper leaves open.

    Where the code departs from the paper, and which one is followed:

    - The fuser's attention softmax. MMRec's port normalises over the modalities
      (``Softmax(dim=-1)``), as the paper's attention does. The authors' own repo uses
      ``Softmax(dim=0)``, which normalises each modality's score over all users and items. The
      paper and MMRec are followed.
    - Fusion scaling. The code divides the shared part plus the gated specific parts by 3,
      which is |M| + 1 for its two modalities. That is followed, written as |M| + 1 so that it
      holds for any number of modalities. With one modality the specific part is zero and the
      multimodal embedding is half the modality view.
    - The regulariser. The code puts ``reg_weight`` times half the squared norm of the batch's
      final user, positive and negative embeddings, over the batch size. The paper writes a norm
      penalty on the embeddings. The code's form is followed, with
      :func:`~mmbench.models.losses.l2_penalty`. The code divides by the configured batch size;
      here it is the actual one, which differs only on an epoch's last, short batch.
    - The InfoNCE. It is in-batch (the code) rather than over all users and items, on cosine
      with temperature 0.2. The anchor is the multimodal embedding; the candidates are the
      user-item-view embeddings of the batch. Users and items repeated in a batch keep their
      own rows, as in the code.
    - The layer combination of the user-item view is LightGCN's mean over layers 0..L, as the
      code computes it.
    - Raw features are fixed inputs, as in the paper. The code wraps them in a trainable
      ``nn.Embedding`` (``freeze=False``); ``finetune_features=True`` does the same. In both
      cases the kNN graphs come from the initial raw features and stay frozen.

    Deliberate differences from the code:

    - Any number of modalities (the dataset's ``*_feat.npy`` files). The code has exactly image
      and text and would fail with one of them missing.
    - kNN graphs are built blockwise as ``n_items * knn_k`` sparse entries, never as a dense
      n_items x n_items similarity matrix. There is no graph cache on disk. The code caches its
      graphs as ``image_adj_{k}_True.pt`` in the data folder, with a key that names neither the
      features nor the dataset split.
    - Items whose feature vector is all zeros have cosine 0 to every item. A kNN row whose kept
      similarities do not sum to a positive number gets a zero row (the code would divide by
      zero).
    - No learning-rate decay. The code multiplies the rate by 0.96^(epoch / 50), and the
      shared trainer has no scheduler.
    - Evaluation propagates once per evaluation pass. The code propagates again for every
      batch of users it scores, with the same result.
    """

    config_class = MGCNConfig
    needs_features = True
    search_space = {
        "lr": FloatParam(1e-4, 5e-3, log=True),
        "reg_weight": FloatParam(1e-5, 1e-3, log=True),
        "cl_weight": FloatParam(1e-3, 1e-1, log=True),
        "knn_k": IntParam(5, 20),
        "n_ui_layers": IntParam(1, 4),
    }
    # The paper's datasets are Amazon Baby, Sports and Clothing, and the authors' yaml is the
    # same for all of them: no per-dataset values are given, for TikTok, Last.fm-2K or any other.
    dataset_presets = {}

    @classmethod
    def ablation_variants(cls, modalities: tuple[str, ...]) -> dict[str, AblationVariant]:
        """The feature-set removals, plus ``w/o-cl``: no self-supervised task (cl_weight 0)."""
        variants = super().ablation_variants(modalities)
        variants["w/o-cl"] = AblationVariant(overrides={"cl_weight": "0"})
        return variants

    def __init__(self, view: TrainView, config: MGCNConfig) -> None:
        super().__init__(view, config)
        if config.knn_k > view.n_items:
            raise ConfigError(
                f"model 'mgcn': knn_k={config.knn_k} exceeds the number of items ({view.n_items}); "
                f"set --set knn_k=N with N <= {view.n_items}"
            )
        dim = config.embedding_dim
        self.user_embedding, self.item_embedding = id_embeddings(view.n_users, view.n_items, dim)
        adjacency = symmetric_bipartite_adjacency(view.train)
        user_items = user_item_block(adjacency, view.n_users, view.n_items)
        self.register_buffer("adjacency", adjacency, persistent=False)
        self.register_buffer("user_items", user_items, persistent=False)
        self.register_buffer("user_items_t", transpose_csr(user_items), persistent=False)
        self.branches = nn.ModuleList(ModalityBranch(view.features[name], config) for name in view.modalities)
        self.attention = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1, bias=False))

    def purified_item_features(self) -> list[torch.Tensor]:
        """Each modality's purified item features [n_items, d], before any propagation."""
        return [branch.purify(self.item_embedding.weight) for branch in self.branches]

    def modality_views(self) -> list[torch.Tensor]:
        """Each modality's item-item view [n_users + n_items, d]: the purified features
        propagated on the modality's kNN graph, with users' rows aggregated from their items."""
        views = []
        for branch, items in zip(self.branches, self.purified_item_features()):
            graph = branch.item_graph()
            for _ in range(self.config.n_ii_layers):
                items = graph.matmul(items)
            users = sparse_matmul(self.user_items, self.user_items_t, items)
            views.append(torch.cat([users, items]))
        return views

    def user_item_view(self) -> torch.Tensor:
        """LightGCN on the ID embeddings [n_users + n_items, d]: the mean over layers 0..L."""
        embeddings = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        return layer_mean_propagation(self.adjacency, embeddings, self.config.n_ui_layers)

    def fuse(self, views: list[torch.Tensor], behaviour: torch.Tensor) -> torch.Tensor:
        """The behaviour-aware fuser: the attention-weighted shared part, plus each modality's
        remainder gated by the user-item view, averaged over the |M| + 1 terms."""
        scores = torch.cat([self.attention(view) for view in views], dim=1)
        weights = torch.softmax(scores, dim=1)
        shared = sum(weights[:, m : m + 1] * view for m, view in enumerate(views))
        specific = sum(
            torch.sigmoid(branch.preference(behaviour)) * (view - shared)
            for branch, view in zip(self.branches, views)
        )
        return (shared + specific) / (len(views) + 1)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The user-item-view embeddings and the multimodal embeddings, users then items."""
        behaviour = self.user_item_view()
        return behaviour, self.fuse(self.modality_views(), behaviour)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings: user-item view plus the fused multimodal embedding."""
        behaviour, multimodal = self.embeddings()
        final = behaviour + multimodal
        return final[: self.n_users], final[self.n_users :]

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        behaviour, multimodal = self.embeddings()
        final = behaviour + multimodal
        parts = regularised_bpr(final[: self.n_users], final[self.n_users :], batch, self.config.reg_weight)
        if self.config.cl_weight > 0:
            tau = self.config.cl_temperature
            user_rows = batch.users
            item_rows = self.n_users + batch.pos_items
            contrast = info_nce(multimodal[item_rows], behaviour[item_rows], tau) + info_nce(
                multimodal[user_rows], behaviour[user_rows], tau
            )
            parts["cl"] = self.config.cl_weight * contrast
        return {"loss": sum(parts.values()), **parts}
