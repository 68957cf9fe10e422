"""MMGCN: multi-modal graph convolution network (Wei et al., ACM MM 2019).

Each modality gets its own graph network over the user-item bipartite graph. Its layer-0 nodes are
the items' features of that modality and a trained per-user "preference" vector in the same space.
A layer aggregates each node's neighbours (mean of a linear map, then LeakyReLU) and combines the
result with the node's own representation mapped into the ID space plus its ID embedding. The
final user and item representations are the sums of the modalities' last layers; score = dot
product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmbench.config import TrainConfig, require_at_least
from mmbench.data.dataset import TrainView
from mmbench.models.base import BprBatch, PropagatedEmbeddingModel
from mmbench.models.embeddings import id_embeddings
from mmbench.models.graph import mean_bipartite_adjacency, sparse_matmul, transpose_csr
from mmbench.models.losses import bpr_loss, l2_penalty
from mmbench.search_space import Categorical, FloatParam, IntParam


@dataclass(frozen=True)
class MMGCNConfig(TrainConfig):
    """MMGCN's settings. "Authors' code" is weiyinwei/MMGCN (README commands and main.py)."""

    # Batch size of the authors' README commands for TikTok and Kwai.
    batch_size: int = 1024
    # The default of the authors' main.py (--l_r 1e-4), also in the paper's and MMRec's grids.
    # Their README's TikTok command uses 5e-4; with it, valid recall@20 on our TikTok peaks at
    # epoch 1 and never rises above the popularity ranking (docs/reproduction-notes-baselines.md).
    lr: float = 1e-4
    # Width of the ID embeddings and of every layer's output: dim_E = 64 in the authors' code.
    embedding_dim: int = 64
    # Number of graph layers: num_layer = 2 in the authors' README commands (and in MMRec).
    n_layers: int = 2
    # Combination layer: True = concatenation g_co, False = element-wise g_ele. The authors'
    # README names concatenation the default, and it is the branch their code always runs.
    concat: bool = True
    # Penalty on the batch's ID embeddings and user preferences (l2_penalty form): 1e-5 is the
    # authors' main.py default. Their README TikTok command uses 0.1 in their per-element mean
    # form, about 3e-3 in this form; both are inside the search range.
    reg_weight: float = 1e-5
    # 0: items enter layer 0 with their own features (L2-normalised, see MMGCN), as in the
    # paper. > 0: each modality is first mapped by a learned linear layer to this width, as the
    # authors' code does (to 256) for 2048-d visual features; useful when features are thousands
    # wide, since the user preference table has one row per user at that width.
    feature_dim: int = 0
    # True: the ID embeddings and user preferences are trained, as the paper's parameter set says.
    # False: they stay at their random initialisation, which is what the authors' code and MMRec
    # do (plain tensors the optimiser never sees). On TikTok this does not change the picture
    # (docs/reproduction-notes-baselines.md), so the paper's reading is the default.
    train_ids: bool = True
    # True: the user preferences are L2-normalised at every forward pass, as the authors' code
    # normalises the whole layer-0 node matrix. The paper is silent; the default keeps them free.
    normalise_preferences: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least(self, 1, "embedding_dim", "n_layers")
        require_at_least(self, 0, "feature_dim")


# The mean-aggregation matrix D^-1 A of the user-item graph and its transpose (for the backward).
Graph = tuple[torch.Tensor, torch.Tensor]


class _GraphLayer(nn.Module):
    """One MMGCN layer of one modality: aggregation, then combination with the ID embedding."""

    def __init__(self, in_dim: int, out_dim: int, concat: bool) -> None:
        super().__init__()
        self.aggregate = nn.Linear(in_dim, out_dim, bias=False)  # W_1
        self.to_id_space = nn.Linear(in_dim, out_dim, bias=False)  # W_2
        self.combine = nn.Linear(2 * out_dim if concat else out_dim, out_dim, bias=False)  # W_3
        self.concat = concat
        for layer in (self.aggregate, self.to_id_space, self.combine):
            nn.init.xavier_uniform_(layer.weight)

    def forward(self, nodes: torch.Tensor, ids: torch.Tensor, graph: Graph) -> torch.Tensor:
        """Next-layer representations of all users and items from this layer's ``nodes``."""
        neighbours = F.leaky_relu(sparse_matmul(*graph, self.aggregate(nodes)))
        own = F.leaky_relu(self.to_id_space(nodes)) + ids
        if self.concat:
            return F.leaky_relu(self.combine(torch.cat([neighbours, own], dim=-1)))
        return F.leaky_relu(self.combine(neighbours) + own)


class _ModalityGCN(nn.Module):
    """The graph network of one modality: user preferences and item features through the layers."""

    def __init__(self, features: np.ndarray, n_users: int, config: MMGCNConfig) -> None:
        super().__init__()
        normalised = F.normalize(torch.from_numpy(features.astype(np.float32)), dim=1)
        self.register_buffer("features", normalised, persistent=False)
        width = config.feature_dim or features.shape[1]
        self.projection = nn.Linear(features.shape[1], width) if config.feature_dim else None
        self.preference = nn.Embedding(n_users, width)
        nn.init.xavier_uniform_(self.preference.weight)
        self.preference.weight.requires_grad_(config.train_ids)
        self.normalise_preferences = config.normalise_preferences
        widths = [width] + [config.embedding_dim] * config.n_layers
        self.layers = nn.ModuleList(
            _GraphLayer(widths[k], config.embedding_dim, config.concat) for k in range(config.n_layers)
        )

    def forward(self, ids: torch.Tensor, graph: Graph) -> torch.Tensor:
        """Last-layer representations, users first: shape [n_users + n_items, embedding_dim]."""
        items = self.features if self.projection is None else self.projection(self.features)
        preference = self.preference.weight
        if self.normalise_preferences:
            preference = F.normalize(preference, dim=1)
        nodes = torch.cat([preference, items])
        for layer in self.layers:
            nodes = layer(nodes, ids, graph)
        return nodes


class MMGCN(PropagatedEmbeddingModel):
    """MMGCN (Wei et al., ACM MM 2019): a GCN per modality with trained ID embeddings, outputs summed.

    Layer l of modality m, for every node v (user or item) with neighbours N(v):
    h = LeakyReLU(mean_{j in N(v)} W_1 x_j), x_hat = LeakyReLU(W_2 x_v) + id_v, and
    x_v' = LeakyReLU(W_3 [h; x_hat]) (concatenation) or LeakyReLU(W_3 h + x_hat) (element-wise).
    The weights are per modality and per layer, shared by users and items. Item features are
    L2-normalised once: the paper is silent on scaling, the authors' code normalises, and it puts
    modalities of very different norms (TikTok: image about 33, audio about 4.5) on one footing.
    (That code normalises the preferences too, at every forward; here they are free parameters.)

    Deliberate choices, against the paper: mean aggregation only (the paper also studies max
    pooling); no bias vectors, as in the paper's equations (the authors' code adds them to W_2,
    W_3); the penalty acts on the batch's ID embeddings and user preferences, not on all
    parameters (``weight_decay`` covers the rest).

    Against the authors' code and MMRec, which depart from the paper: the ID embeddings and user
    preferences are registered parameters, so they are trained (there they are plain tensors the
    optimiser never sees); ``concat`` is a real boolean (there the string 'False' is truthy, so
    concatenation always ran); ``n_layers`` is honoured (there three layers always run); the
    modalities are summed as in the paper (there averaged); evaluation propagates the current
    parameters once per pass (MMRec scores with representations cached before the last step).
    The code's untrained IDs and its normalised preferences are options (``train_ids=False``,
    ``normalise_preferences=True``), off by default.

    Defaults against the authors' README TikTok command (lr 5e-4, weight_decay 0.1): lr is 1e-4,
    their main.py default, because at 5e-4 validation recall@20 on TikTok peaks after one epoch;
    their weight_decay 0.1 is Adam's on a per-batch *sum* of log2-sigmoid losses, about 7e-5 on
    our batch mean, and is left at 0 (0.1 on the mean stops training: the loss stays at ln 2).
    """

    config_class = MMGCNConfig
    needs_features = True
    search_space = {
        # the paper's grids: lr {1e-4 .. 1e-2}, regulariser {0, 1e-5 .. 1e-1}
        "lr": FloatParam(1e-4, 1e-2, log=True),
        "reg_weight": FloatParam(1e-6, 1e-1, log=True),
        "n_layers": IntParam(1, 3),
        "concat": Categorical([True, False]),
    }

    def __init__(self, view: TrainView, config: MMGCNConfig) -> None:
        super().__init__(view, config)
        self.modalities = view.modalities
        self.user_embedding, self.item_embedding = id_embeddings(view.n_users, view.n_items, config.embedding_dim)
        self.user_embedding.weight.requires_grad_(config.train_ids)
        self.item_embedding.weight.requires_grad_(config.train_ids)
        self.branches = nn.ModuleList(
            _ModalityGCN(view.features[name], view.n_users, config) for name in self.modalities
        )
        adjacency = mean_bipartite_adjacency(view.train)
        self.register_buffer("adjacency", adjacency, persistent=False)
        self.register_buffer("adjacency_t", transpose_csr(adjacency), persistent=False)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item representations: the sum over modalities of the last layer."""
        ids = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        graph = (self.adjacency, self.adjacency_t)
        total = sum(branch(ids, graph) for branch in self.branches)
        return total[: self.n_users], total[self.n_users :]

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        users_all, items_all = self.propagate()
        users = users_all[batch.users]
        ranking = bpr_loss(
            (users * items_all[batch.pos_items]).sum(-1), (users * items_all[batch.neg_items]).sum(-1)
        )
        reg = self.config.reg_weight * l2_penalty(
            self.user_embedding(batch.users),
            self.item_embedding(batch.pos_items),
            self.item_embedding(batch.neg_items),
            *(branch.preference(batch.users) for branch in self.branches),
        )
        return {"loss": ranking + reg, "bpr": ranking, "reg": reg}
