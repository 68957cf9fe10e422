"""LATTICE (Zhang et al., "Mining Latent Structures for Multimedia Recommendation", ACM MM 2021).

LATTICE learns an item-item graph per modality, mixes the modality graphs, smooths the item ID
embeddings over the mixed graph, and adds the result to the item embeddings of a collaborative
filtering backbone (LightGCN here, the paper's main setting). Per modality m:

1. the initial graph S_m: each item's top-k cosine neighbours on the raw features, normalised as
   D^-1/2 S D^-1/2; fixed during training;
2. the learned graph A_m: the same construction on the projected features W_m e + b_m, rebuilt
   from the current projections at every forward pass, so that gradients reach W_m through the
   kept similarities;
3. the modality graph lambda * S_m + (1 - lambda) * A_m.

The item graph is the sum of the modality graphs weighted by a softmax over learned per-modality
scores; ``n_item_layers`` products of it with the item ID embeddings give h, and an item's final
embedding is its LightGCN embedding plus h / ||h||. All item graphs are sparse with ``topk``
entries per row (:mod:`mmbench.models.knn`), so memory grows as n_items * topk, never n_items^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmbench.config import TrainConfig, require_at_least, require_choice
from mmbench.data.dataset import TrainView
from mmbench.errors import ConfigError
from mmbench.models.base import BprBatch, PropagatedEmbeddingModel
from mmbench.models.embeddings import id_embeddings
from mmbench.models.graph import layer_mean_propagation, symmetric_bipartite_adjacency
from mmbench.models.knn import KnnGraph, knn_graph, symmetric_normalise
from mmbench.models.losses import regularised_bpr
from mmbench.search_space import FloatParam, IntParam


GRAPH_REBUILDS = ("epoch", "batch")


@dataclass(frozen=True)
class LatticeConfig(TrainConfig):
    """Defaults of the LATTICE code lineage (CRIPAC-DIG/LATTICE ``codes/utility/parser.py``, as
    copied in HKUDS/MMSSL ``LATTICE/``): Adam lr 5e-4, batch 1024, 200 epochs evaluated every 5,
    patience 10 evaluations, embeddings 64, feat_embed_dim 64, LightGCN with 2 layers
    (``weight_size`` [64, 64]), 1 item-graph layer, topk 10, lambda_coeff 0.9, reg 1e-5.

    ``knn_block_size`` is mmbench's: rows of similarities computed at once when building kNN
    graphs (memory block_size * n_items floats; it does not change the result).

    ``graph_rebuild`` says when the learned graphs are rebuilt during training: ``epoch`` (the
    LATTICE code: with gradients on the first batch of each epoch, the detached graph reused for
    the other batches) or ``batch`` (every forward pass, the paper's reading; about 70 s per
    TikTok epoch on one CPU thread instead of a few seconds).
    """

    epochs: int = 200
    batch_size: int = 1024
    lr: float = 5e-4
    eval_every: int = 5
    patience: int = 10
    embedding_dim: int = 64
    feat_embed_dim: int = 64
    n_ui_layers: int = 2
    n_item_layers: int = 1
    topk: int = 10
    lambda_coeff: float = 0.9
    reg_weight: float = 1e-5
    knn_block_size: int = 1024
    graph_rebuild: str = "epoch"

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least(self, 1, "embedding_dim", "feat_embed_dim", "n_item_layers", "topk", "knn_block_size")
        require_at_least(self, 0, "n_ui_layers")
        if not 0.0 <= self.lambda_coeff <= 1.0:
            raise ConfigError(f"config key 'lambda_coeff' must be in [0, 1], got {self.lambda_coeff}")
        require_choice(self, "graph_rebuild", GRAPH_REBUILDS)
        require_at_least(self, 0, "reg_weight")


class ModalityGraph(nn.Module):
    """One modality: its raw features, fixed initial kNN graph, and the projection W_m, b_m."""

    def __init__(self, features: np.ndarray, topk: int, feat_embed_dim: int, block_size: int) -> None:
        super().__init__()
        raw = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        initial = symmetric_normalise(knn_graph(raw, topk, block_size))
        # Non-persistent: features and the initial graph are rebuilt from the data, not checkpointed.
        self.register_buffer("features", raw, persistent=False)
        self.register_buffer("initial_indices", initial.indices, persistent=False)
        self.register_buffer("initial_weights", initial.weights, persistent=False)
        self.projection = nn.Linear(raw.shape[1], feat_embed_dim)
        self.topk = topk
        self.block_size = block_size
        self._reused: KnnGraph | None = None

    def initial_graph(self) -> KnnGraph:
        """S_m: the normalised kNN graph of the raw features."""
        return KnnGraph(self.initial_indices, self.initial_weights)

    def learned_graph(self, rebuild: bool = True) -> KnnGraph:
        """A_m: the normalised kNN graph of the projected features.

        With ``rebuild`` it is computed from the current projection (differentiable) and a
        detached copy is kept; without, that copy is reused (built first if there is none).
        """
        if rebuild or self._reused is None:
            projected = self.projection(self.features)
            graph = symmetric_normalise(knn_graph(projected, self.topk, self.block_size))
            self._reused = KnnGraph(graph.indices, graph.weights.detach())
            return graph
        return self._reused


class Lattice(PropagatedEmbeddingModel):
    """LATTICE: learned modality item graphs added to a LightGCN backbone (ACM MM 2021).

    Written from the paper. Deliberate differences from the paper:

    - The CF backbone is LightGCN on D^-1/2 A D^-1/2 (LightGCN's own normalisation, shared with
      mmbench's ``lightgcn``); the paper leaves the backbone's graph to the backbone.
    - The L2 penalty acts on the batch's final user and item embeddings, half the squared norm
      divided by the batch size, as in the LATTICE code whose ``reg`` default (1e-5) we take; the
      paper writes a penalty on all parameters.
    - Item feature vectors with norm 0 have cosine 0 to every item; a kNN row whose similarity
      sum is not positive gets a zero row after normalisation (the paper does not cover either).
    - The kNN graphs keep the item itself among its ``topk`` neighbours (top-k of the full
      similarity row, as the paper defines it); so does the LATTICE code.

    Deliberate differences from the LATTICE code and from MMRec's port of it, and where they
    agree:

    - By default the learned graphs are rebuilt as the code does: on the first batch of each
      epoch, with gradients, and reused detached for the epoch's other batches
      (``graph_rebuild=epoch``); ``graph_rebuild=batch`` rebuilds them at every training forward
      pass, the paper's reading. MMRec also rebuilds them on every evaluation batch; here
      :meth:`scorer` builds them once per evaluation pass, from the current projections.
    - Raw features are fixed inputs, as in the paper; the code wraps them in a trainable
      ``nn.Embedding`` (``freeze=False``), so it also fine-tunes the raw features.
    - All item graphs are sparse (``topk`` entries per row, built in row blocks); the code builds
      dense n_items x n_items matrices, which is what makes LATTICE fail on Amazon Elec in MMRec.
    - No graph cache on disk: the initial graphs are rebuilt when the model is built (about
      0.45 s per modality on one CPU thread at TikTok's 6,710 items), so a stale cache can never
      be loaded. The code caches them as ``image_adj_10.pt`` in the data folder, keyed by
      neither the dataset nor the feature content.
    - The backbone uses D^-1/2 A D^-1/2 without self-loops, where the code (and MMRec) use
      D^-1 (A + I).
    - Any number of modalities, named by the dataset's ``*_feat.npy`` files; the code has exactly
      image and text.
    - No learning-rate decay: the code multiplies the rate by 0.96^(epoch / 50); the shared
      trainer has no scheduler.
    """

    config_class = LatticeConfig
    needs_features = True
    search_space = {
        "lr": FloatParam(1e-4, 5e-3, log=True),
        "reg_weight": FloatParam(1e-6, 1e-3, log=True),
        "topk": IntParam(5, 50, log=True),
        "lambda_coeff": FloatParam(0.5, 0.99),
        "n_item_layers": IntParam(1, 3),
    }

    def __init__(self, view: TrainView, config: LatticeConfig) -> None:
        super().__init__(view, config)
        if config.topk > view.n_items:
            raise ConfigError(
                f"model 'lattice': topk={config.topk} exceeds the number of items ({view.n_items}); "
                f"set --set topk=N with N <= {view.n_items}"
            )
        self.user_embedding, self.item_embedding = id_embeddings(view.n_users, view.n_items, config.embedding_dim)
        self.register_buffer("adjacency", symmetric_bipartite_adjacency(view.train), persistent=False)
        self.modality_graphs = nn.ModuleList(
            ModalityGraph(
                view.features[name], config.topk, config.feat_embed_dim, config.knn_block_size
            )
            for name in view.modalities
        )
        # Equal logits: the softmax starts every modality at the same weight, as the code's [0.5, 0.5].
        self.modality_logits = nn.Parameter(torch.zeros(len(view.modalities)))
        self._rebuild_pending = True

    def on_epoch_start(self, epoch: int) -> None:
        self._rebuild_pending = True

    def item_graph_embeddings(self, rebuild: bool = True) -> torch.Tensor:
        """h: the item ID embeddings multiplied ``n_item_layers`` times by the mixed item graph."""
        lam = self.config.lambda_coeff
        weights = torch.softmax(self.modality_logits, dim=0)
        graphs = [(m.initial_graph(), m.learned_graph(rebuild)) for m in self.modality_graphs]
        h = self.item_embedding.weight
        for _ in range(self.config.n_item_layers):
            h = sum(
                weight * (lam * initial.matmul(h) + (1 - lam) * learned.matmul(h))
                for weight, (initial, learned) in zip(weights, graphs)
            )
        return h

    def propagate(self, rebuild: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings: LightGCN layer means, items plus h / ||h||.

        Scoring rebuilds the learned graphs from the current projections; training rebuilds them
        on the ``graph_rebuild`` schedule.
        """
        embeddings = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        mean = layer_mean_propagation(self.adjacency, embeddings, self.config.n_ui_layers)
        items = mean[self.n_users :] + F.normalize(self.item_graph_embeddings(rebuild), dim=1)
        return mean[: self.n_users], items

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        rebuild = self.config.graph_rebuild == "batch" or self._rebuild_pending
        self._rebuild_pending = False
        users_all, items_all = self.propagate(rebuild)
        parts = regularised_bpr(users_all, items_all, batch, self.config.reg_weight)
        return {"loss": parts["bpr"] + parts["reg"], **parts}
