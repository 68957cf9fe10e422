"""FREEDOM (Zhou & Shen, "A Tale of Two Graphs: Freezing and Denoising Graph Structures for
Multimodal Recommendation", ACM MM 2023, arXiv 2211.06924).

FREEDOM keeps LATTICE's item-item graph but freezes it, and denoises the user-item graph:

1. Frozen item graph. Per modality m, each item is linked to the ``knn_k`` items whose raw
   features are most cosine-similar (itself included); the edges are binary and normalised as
   D^-1/2 S D^-1/2, so each kept edge weighs 1/k. The graph is built once, from the raw
   features, and never changes. The item graph is S = sum_m alpha_m S_m with fixed modality
   weights alpha (they sum to 1).
2. Degree-sensitive edge pruning. Before each training epoch a share (1 - ``dropout``) of the
   training edges is kept, sampled without replacement with probability proportional to
   1 / sqrt(d_u * d_i) (degrees in the full training graph), so edges between high-degree nodes
   are the likeliest to be dropped. The kept graph is normalised as D^-1/2 A D^-1/2 with the
   kept graph's own degrees.
3. Propagation. LightGCN (mean of layers 0..``n_ui_layers``) on the pruned graph during
   training and on the full training graph at evaluation; ``n_mm_layers`` products of S with the
   item ID embeddings give h, which is added to the items' LightGCN embeddings.
4. Loss. BPR on the final embeddings, plus ``reg_weight`` times, per modality, a BPR loss
   between the final user embedding and the projected features W_m x_m + b_m of the positive
   and negative items.

Every item graph is sparse with ``n_items * knn_k`` entries per modality
(:mod:`mmbench.models.knn`), never an n_items^2 matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from mmbench.config import TrainConfig, require_at_least, require_choice
from mmbench.data.dataset import TrainView
from mmbench.errors import ConfigError
from mmbench.models.base import AblationVariant, BprBatch, PropagatedEmbeddingModel, modality_removal_variants
from mmbench.models.embeddings import id_embeddings
from mmbench.models.graph import (
    edge_bipartite_adjacency,
    layer_mean_propagation,
    symmetric_bipartite_adjacency,
    training_edges,
)
from mmbench.models.knn import KnnGraph, knn_graph, symmetric_normalise, unweighted
from mmbench.models.losses import bpr_loss, dot_bpr_loss
from mmbench.search_space import Categorical, FloatParam, IntParam


PRUNINGS = ("degree", "uniform")


def parse_modality_weights(text: str) -> dict[str, float]:
    """``"image:0.1,text:0.9"`` as ``{"image": 0.1, "text": 0.9}``; the empty string as ``{}``.

    Raises :class:`ConfigError` on a malformed pair, a repeated name, a negative or non-finite
    weight, or weights that sum to zero.
    """
    weights: dict[str, float] = {}
    if not text.strip():
        return weights
    for pair in text.split(","):
        name, sep, raw = pair.partition(":")
        name = name.strip()
        try:
            value = float(raw) if sep else math.nan
        except ValueError:
            value = math.nan
        if not name or not math.isfinite(value) or value < 0:
            raise ConfigError(
                f"config key 'modality_weights' expects name:weight pairs with weights >= 0, "
                f"separated by commas (for example image:0.1,text:0.9), got {text!r}"
            )
        if name in weights:
            raise ConfigError(f"config key 'modality_weights' names {name!r} twice: {text!r}")
        weights[name] = value
    if sum(weights.values()) <= 0:
        raise ConfigError(f"config key 'modality_weights' must have a positive weight, got {text!r}")
    return weights


@dataclass(frozen=True)
class FREEDOMConfig(TrainConfig):
    """Defaults of the authors' code: MMRec ``src/configs/model/FREEDOM.yaml`` (the same model
    file as enoche/FREEDOM) and MMRec ``src/configs/overall.yaml``.

    - From ``overall.yaml``: Adam, lr 1e-3, batch 2048, 1000 epochs evaluated every epoch,
      early stopping after 20 evaluations without improvement, weight decay 0 (the TrainConfig
      default), embeddings 64.
    - From ``FREEDOM.yaml``: ``n_ui_layers: 2``, ``n_mm_layers: 1``, ``knn_k: 10``,
      ``feat_embed_dim: 64`` (the projected features are dot-multiplied with 64-d user
      embeddings, so here they always take ``embedding_dim``).
    - ``dropout`` and ``reg_weight`` are grids in the yaml (``dropout: [0.8, 0.9]``,
      ``reg_weight: [0.0, 1e-05, 1e-04, 1e-03]``), tuned per dataset; the authors state no
      single default. We take 0.8 (the grid's first value) and 1e-4 (its middle non-zero value).
    - ``modality_weights``: the yaml's ``mm_image_weight: 0.1`` gives image 0.1 and text 0.9 on
      the Amazon data, the only modalities the code knows. Our datasets have (image, audio) and
      (audio, text), for which the authors give no weights, so the default "" weighs the run's
      modalities equally. ``"image:0.1,text:0.9"`` reproduces the code on image + text data.
      Weights of modalities a run does not use are ignored; the others are rescaled to sum to 1.

    mmbench's own keys: ``pruning`` (``degree``: the paper's degree-sensitive sampler;
    ``uniform``: every edge equally likely, DropEdge, for the ablation), ``tune_features``
    (``True``: the raw features are trained through the feature BPR terms, as the code's
    ``nn.Embedding.from_pretrained(..., freeze=False)`` does; ``False``: fixed, as the paper
    writes them), ``knn_block_size`` (rows of similarities computed at once when the kNN graphs
    are built; it does not change the result).

    No per-dataset settings are given by the authors for TikTok or Last.fm-2K (the paper and
    MMRec tune on Amazon Baby, Sports and Clothing), so ``FREEDOM.dataset_presets`` is empty.
    """

    epochs: int = 1000
    batch_size: int = 2048
    lr: float = 1e-3
    eval_every: int = 1
    patience: int = 20
    embedding_dim: int = 64
    n_ui_layers: int = 2
    n_mm_layers: int = 1
    knn_k: int = 10
    dropout: float = 0.8
    reg_weight: float = 1e-4
    modality_weights: str = ""
    pruning: str = "degree"
    tune_features: bool = True
    knn_block_size: int = 1024

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least(self, 1, "embedding_dim", "n_mm_layers", "knn_k", "knn_block_size")
        require_at_least(self, 0, "n_ui_layers")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(
                f"config key 'dropout' (the share of training edges pruned each epoch) must be in "
                f"[0, 1), got {self.dropout}"
            )
        require_at_least(self, 0, "reg_weight")
        require_choice(self, "pruning", PRUNINGS)
        parse_modality_weights(self.modality_weights)


def modality_weight_vector(text: str, modalities: tuple[str, ...]) -> list[float]:
    """The weight alpha_m of each of ``modalities`` (in that order), summing to 1.

    "" weighs them equally; otherwise every modality must be named in ``text`` (names it lists
    that the run does not use are ignored) and the named weights are rescaled to sum to 1.
    """
    if not text.strip():
        return [1.0 / len(modalities)] * len(modalities)
    given = parse_modality_weights(text)
    missing = [m for m in modalities if m not in given]
    if missing:
        raise ConfigError(
            f"model 'freedom': modality_weights={text!r} gives no weight to {', '.join(missing)}; "
            f"name every modality of the run ({', '.join(modalities)}) or set modality_weights= "
            f"(empty) for equal weights"
        )
    total = sum(given[m] for m in modalities)
    if total <= 0:
        raise ConfigError(
            f"model 'freedom': modality_weights={text!r} gives the run's modalities "
            f"({', '.join(modalities)}) a total weight of 0"
        )
    return [given[m] / total for m in modalities]


def frozen_item_graph(features: torch.Tensor, k: int, block_size: int) -> KnnGraph:
    """S_m: binary top-``k`` cosine graph of the raw features, normalised D^-1/2 S D^-1/2.

    Each row keeps ``k`` entries of 1/k. An item whose feature vector is all zeros has no
    similarity to anything, so its row (and every entry pointing at it) is zero instead of
    ``k`` arbitrary neighbours.
    """
    graph = unweighted(knn_graph(features, k, block_size))
    has_features = (features.norm(dim=1) > 0).to(graph.weights.dtype)
    return symmetric_normalise(KnnGraph(graph.indices, graph.weights * has_features[:, None]))


def edge_keep_weights(train: sp.csr_matrix, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """1 / sqrt(d_u * d_i) of each training edge (u, i): degrees in the full training graph."""
    binary = (train > 0).astype(np.float64)
    user_degree = torch.from_numpy(np.asarray(binary.sum(axis=1)).ravel())
    item_degree = torch.from_numpy(np.asarray(binary.sum(axis=0)).ravel())
    return (user_degree[users] * item_degree[items]).rsqrt().to(torch.float32)


class ModalityBranch(nn.Module):
    """One modality: its frozen item graph S_m, its raw features and their projection W_m, b_m."""

    def __init__(self, features: np.ndarray, config: FREEDOMConfig) -> None:
        super().__init__()
        # A copy: tuned features are updated in place and must not write into the dataset's arrays.
        raw = torch.tensor(features, dtype=torch.float32)
        graph = frozen_item_graph(raw, config.knn_k, config.knn_block_size)
        # Non-persistent: rebuilt from the data when the model is built, never checkpointed.
        self.register_buffer("graph_indices", graph.indices, persistent=False)
        self.register_buffer("graph_weights", graph.weights, persistent=False)
        if config.tune_features:
            self.features = nn.Parameter(raw)
        else:
            self.register_buffer("features", raw, persistent=False)
        self.projection = nn.Linear(raw.shape[1], config.embedding_dim)

    def graph(self) -> KnnGraph:
        """S_m, as built from the raw features (``n_items * knn_k`` entries)."""
        return KnnGraph(self.graph_indices, self.graph_weights)

    def projected(self, items: torch.Tensor) -> torch.Tensor:
        """W_m x_i + b_m for the given items."""
        return self.projection(self.features[items])


class FREEDOM(PropagatedEmbeddingModel):
    """FREEDOM: a frozen multimodal item graph and a degree-pruned LightGCN (ACM MM 2023).

    Written from the paper; the authors' code (MMRec ``src/models/freedom.py``, identical in
    enoche/FREEDOM) was read for its settings. Where the code departs from the paper:

    - The code fine-tunes the raw features (``nn.Embedding.from_pretrained(..., freeze=False)``)
      through the feature BPR terms; the paper, as we read it, projects fixed features. We follow
      the code
      (``tune_features=True``) since its settings produced the published numbers;
      ``tune_features=False`` gives the paper's reading. The item graphs are built from the raw
      features before training in both, as both say.
    - The code samples the kept edges with ``torch.multinomial(1/sqrt(d_u d_i), n_keep)``:
      weighted sampling without replacement of exactly floor(|E| (1 - dropout)) edges, which is
      how we read the paper's multinomial sampling of the kept subgraph; we do the same.
    - The code fixes the item graph's modality weights to ``mm_image_weight`` (image) and
      1 - ``mm_image_weight`` (text); the paper writes a weight alpha_m per modality. We take
      the paper's form for any set of modalities (``modality_weights``, equal by default, see
      :class:`FREEDOMConfig`).
    - Both evaluate on the full (unpruned) training graph; so do we.
    - Item graphs: binary top-k of the full cosine row (so each item is one of its own k
      neighbours), normalised with row sums on both sides, as the code does; we do the same.
    - The code reads ``lambda_coeff``, ``cf_model``, ``degree_ratio`` and ``weight_size`` but
      never uses them; they have no counterpart here.

    Deliberate differences from the code:

    - Any number of modalities, named by the dataset's ``*_feat.npy`` files; the code knows
      exactly image and text.
    - Items with all-zero features get no item-graph edges (the code divides by their zero norm
      and spreads NaN); no shipped dataset has such items.
    - No cache file: the item graphs are rebuilt when the model is built, so a stale cache (the
      code's ``mm_adj_freedomdsp_{k}_{w}.pt`` is keyed by neither dataset content nor features)
      can never be loaded. They are built in row blocks, never as an n_items^2 matrix.
    - Degrees have no 1e-7 added: isolated users and cold items have no edge to weigh, and the
      pruned graph's normalisation gives isolated nodes zero rows.
    - The projected features take ``embedding_dim`` (the code's ``feat_embed_dim`` must equal it
      for its dot products, and does in its yaml).
    - On image + text data the default weighs the modalities equally, not 0.1 / 0.9 as the
      code's ``mm_image_weight`` does; ``--set modality_weights=image:0.1,text:0.9`` restores it.
    - ``pruning=uniform`` (every edge equally likely, DropEdge) is ours, to measure what the
      degree-sensitive sampler adds over random edge dropout.
    """

    config_class = FREEDOMConfig
    needs_features = True
    dataset_presets = {}  # the authors give none for TikTok or Last.fm-2K (see FREEDOMConfig)
    search_space = {
        "lr": FloatParam(1e-4, 1e-2, log=True),
        "dropout": FloatParam(0.5, 0.95),
        "reg_weight": Categorical((0.0, 1e-5, 1e-4, 1e-3, 1e-2)),
        "knn_k": IntParam(5, 20),
        "n_ui_layers": IntParam(1, 3),
    }

    @classmethod
    def ablation_variants(cls, modalities: tuple[str, ...]) -> dict[str, AblationVariant]:
        """No pruning, uniform pruning, no feature BPR terms, and one variant per modality removed."""
        return {
            "w/o-pruning": AblationVariant({"dropout": "0"}),
            "uniform-pruning": AblationVariant({"pruning": "uniform"}),
            "w/o-feature-bpr": AblationVariant({"reg_weight": "0"}),
            **modality_removal_variants(modalities),
        }

    def __init__(self, view: TrainView, config: FREEDOMConfig) -> None:
        super().__init__(view, config)
        if config.knn_k > view.n_items:
            raise ConfigError(
                f"model 'freedom': knn_k={config.knn_k} exceeds the number of items ({view.n_items}); "
                f"set --set knn_k=N with N <= {view.n_items}"
            )
        self.modalities = view.modalities
        self.modality_weights = modality_weight_vector(config.modality_weights, view.modalities)
        users, items = training_edges(view.train)
        self.n_keep = int(users.shape[0] * (1.0 - config.dropout))
        if self.n_keep < 1:
            raise ConfigError(
                f"model 'freedom': dropout={config.dropout} keeps no edge of the {users.shape[0]} "
                f"training interactions; lower --set dropout"
            )
        self.user_embedding, self.item_embedding = id_embeddings(view.n_users, view.n_items, config.embedding_dim)
        self.register_buffer("full_adjacency", symmetric_bipartite_adjacency(view.train), persistent=False)
        self.register_buffer("edge_users", users, persistent=False)
        self.register_buffer("edge_items", items, persistent=False)
        keep = edge_keep_weights(view.train, users, items)
        if config.pruning == "uniform":
            keep = torch.ones_like(keep)
        self.register_buffer("edge_keep_weights", keep, persistent=False)
        self.branches = nn.ModuleList(ModalityBranch(view.features[name], config) for name in view.modalities)
        self._pruned: torch.Tensor | None = None

    def sample_kept_edges(self) -> torch.Tensor:
        """Positions (into the training edge list) of the edges kept this epoch, sampled without
        replacement with probability proportional to ``edge_keep_weights``."""
        if self.n_keep == self.edge_keep_weights.shape[0]:
            return torch.arange(self.n_keep, device=self.edge_keep_weights.device)
        return torch.multinomial(self.edge_keep_weights, self.n_keep, replacement=False)

    def resample_graph(self) -> None:
        """Draw this epoch's pruned user-item graph (the full graph when ``dropout`` is 0)."""
        if self.config.dropout == 0.0:
            self._pruned = self.full_adjacency
            return
        kept = self.sample_kept_edges()
        self._pruned = edge_bipartite_adjacency(
            self.edge_users[kept], self.edge_items[kept], self.n_users, self.n_items
        )

    def on_epoch_start(self, epoch: int) -> None:
        self.resample_graph()

    def training_adjacency(self) -> torch.Tensor:
        """The pruned graph of the current epoch (drawn now if none was, or if the model moved)."""
        if self._pruned is None or self._pruned.device != self.edge_users.device:
            self.resample_graph()
        return self._pruned

    def item_graph_embeddings(self) -> torch.Tensor:
        """h: the item ID embeddings multiplied ``n_mm_layers`` times by S = sum_m alpha_m S_m."""
        graphs = [branch.graph() for branch in self.branches]
        h = self.item_embedding.weight
        for _ in range(self.config.n_mm_layers):
            h = sum(alpha * graph.matmul(h) for alpha, graph in zip(self.modality_weights, graphs))
        return h

    def propagate(self, adjacency: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings over ``adjacency`` (default: the full training graph,
        used for evaluation): LightGCN layer means, items plus h."""
        graph = self.full_adjacency if adjacency is None else adjacency
        embeddings = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        mean = layer_mean_propagation(graph, embeddings, self.config.n_ui_layers, transpose=graph)
        return mean[: self.n_users], mean[self.n_users :] + self.item_graph_embeddings()

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        users_all, items_all = self.propagate(self.training_adjacency())
        users = users_all[batch.users]
        ranking = bpr_loss(
            (users * items_all[batch.pos_items]).sum(-1), (users * items_all[batch.neg_items]).sum(-1)
        )
        feature_terms = []
        for branch in self.branches:
            pos = branch.projected(batch.pos_items)
            neg = branch.projected(batch.neg_items)
            feature_terms.append(dot_bpr_loss(users, pos, neg))
        feature_bpr = torch.stack(feature_terms).sum()
        total = ranking + self.config.reg_weight * feature_bpr
        return {"loss": total, "bpr": ranking, "feature_bpr": feature_bpr}
