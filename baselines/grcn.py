"""GRCN (Wei et al., "Graph-Refined Convolutional Network for Multimedia Recommendation with
Implicit Feedback", ACM MM 2020, arXiv 2111.02036).

GRCN re-weights the edges of the user-item training graph before propagating ID embeddings over
it, so that interactions a user's content preference does not explain (likely false positives)
carry less, or no, signal. Three parts, all recomputed at every forward pass:

1. graph refining layer, per modality m: item prototypes f_i = normalise(LeakyReLU(W_m x_i + b_m))
   and user prototypes p_u (trained, normalised), refined by routing over the user's training
   items; the affinity p_u . f_i of each training edge is normalised by a softmax over the
   target node's neighbours, once for each direction of the edge; the modality scores of an
   edge are combined (max with per-node confidences by default) and pruned (ReLU);
2. graph convolution: normalised ID embeddings propagated twice over the refined graph, summed
   with the layer-0 embeddings; each modality's content representation is its prototype plus the
   affinity-weighted sum of its neighbours' prototypes;
3. prediction: the dot product of the concatenated [ID, content_1, ..., content_M] vectors.

The refined graph never gains an edge: it is the training edge list with new weights, and the
weights are differentiable, so the propagation is written on the edge list (:class:`BipartiteEdges`)
rather than on a constant sparse matrix (:func:`mmbench.models.graph.edge_bipartite_adjacency`
detaches its values).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmbench.config import TrainConfig, require_at_least, require_choice
from mmbench.data.dataset import TrainView
from mmbench.models.base import AblationVariant, BprBatch, PropagatedEmbeddingModel, modality_removal_variants
from mmbench.models.graph import training_edges
from mmbench.models.losses import bpr_loss
from mmbench.search_space import Categorical, FloatParam, IntParam

WEIGHT_MODES = ("confid", "max", "mean")


@dataclass(frozen=True)
class GRCNConfig(TrainConfig):
    """GRCN's settings. "Authors' code" is weiyinwei/GRCN (``main.py`` defaults, README commands);
    "MMRec" is enoche/MMRec ``src/configs/model/GRCN.yaml`` and ``src/models/grcn.py``.

    Defaults from the authors' ``main.py``: Adam lr 1e-4, batch 1024, 1000 epochs evaluated every
    epoch, stop after about 20 evaluations without improvement, ``dim_E`` = ``dim_C`` = 64,
    ``num_routing`` 3, ``weight_mode`` confid, ``is_pruning`` True, ``weight_decay`` 1e-5 (which
    the code uses as the weight of its embedding penalty, here ``reg_weight``). MMRec agrees
    (``embedding_size`` 64, ``latent_embedding`` 64, ``n_layers`` 3 = routing iterations, pruning
    on) and tunes ``reg_weight`` in {1e-1 .. 1e-5} and ``learning_rate`` in {1 .. 1e-4}.
    The two ID-graph layers are fixed in both codes (``EGCN``); here ``n_layers``.
    """

    epochs: int = 1000
    batch_size: int = 1024
    lr: float = 1e-4
    eval_every: int = 1
    patience: int = 20
    # Width of the ID embeddings (dim_E) and of each modality's prototypes (dim_C).
    embedding_dim: int = 64
    content_dim: int = 64
    # Routing iterations refining the user prototypes from their items (num_routing). 0 is what
    # both codes compute in effect (see GRCN's docstring).
    n_routing: int = 3
    # Graph-convolution layers of the ID embeddings over the refined graph.
    n_layers: int = 2
    # How the modalities' edge scores combine: confid = max over modalities of the score times
    # the source node's learned confidence; max / mean = max / mean of the scores.
    weight_mode: str = "confid"
    # True: ReLU on the combined weights, so that edges with a negative weight are cut (weight 0).
    pruning: bool = True
    # Penalty on the batch's raw ID embeddings and user prototypes, in the code's per-element mean
    # form (see GRCN.loss).
    reg_weight: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least(self, 1, "embedding_dim", "content_dim")
        require_at_least(self, 0, "n_routing", "n_layers")
        require_choice(self, "weight_mode", WEIGHT_MODES)
        require_at_least(self, 0, "reg_weight")


def segment_softmax(scores: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Softmax of edge ``scores`` within each group of edges sharing a ``groups`` index.

    The per-group maximum (a constant shift, so detached) keeps exp() finite for any score.
    """
    shift = torch.full((n_groups,), float("-inf"), dtype=scores.dtype, device=scores.device)
    shift = shift.scatter_reduce(0, groups, scores.detach(), reduce="amax", include_self=True)
    exps = torch.exp(scores - shift[groups])
    totals = torch.zeros(n_groups, dtype=scores.dtype, device=scores.device).index_add(0, groups, exps)
    return exps / totals[groups]


class BipartiteEdges(nn.Module):
    """Differentiable products over the training edges, with weights that carry gradients.

    The edges are held as two sparse CSR structures: rows = users (the edge order of
    :func:`training_edges`) and rows = items (the same edges sorted by item). Weighted neighbour
    sums are CSR products and per-edge dot products are sampled products
    (``torch.sparse.sampled_addmm``); the backward of each is again one of the two, so no
    [n_edges, dim] message tensor is ever built: gathering, multiplying and ``index_add``-ing
    edge messages instead made a training step several times slower on CPU.
    """

    def __init__(self, users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int) -> None:
        super().__init__()
        if (users[1:] < users[:-1]).any():
            raise ValueError("BipartiteEdges needs the edges sorted by user, as training_edges() returns them")
        self.n_users, self.n_items = n_users, n_items
        by_item = torch.argsort(items * n_users + users)
        # Non-persistent: rebuilt from the training data, not checkpointed.
        self.register_buffer("users", users, persistent=False)
        self.register_buffer("items", items, persistent=False)
        self.register_buffer("user_rows", self._row_pointers(users, n_users), persistent=False)
        self.register_buffer("item_rows", self._row_pointers(items, n_items), persistent=False)
        self.register_buffer("by_item", by_item, persistent=False)
        self.register_buffer("item_order_users", users[by_item], persistent=False)

    @staticmethod
    def _row_pointers(rows: torch.Tensor, n_rows: int) -> torch.Tensor:
        pointers = torch.zeros(n_rows + 1, dtype=torch.int64)
        pointers[1:] = torch.bincount(rows, minlength=n_rows).cumsum(0)
        return pointers

    def user_matrix(self, weights: torch.Tensor) -> torch.Tensor:
        """[n_users, n_items] CSR holding ``weights`` (edge order) at the training pairs."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                self.user_rows, self.items, weights, (self.n_users, self.n_items), check_invariants=False
            )

    def item_matrix(self, weights: torch.Tensor) -> torch.Tensor:
        """[n_items, n_users] CSR holding ``weights`` (edge order) at the training pairs."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                self.item_rows,
                self.item_order_users,
                weights[self.by_item],
                (self.n_items, self.n_users),
                check_invariants=False,
            )

    def sampled_dot(self, user_x: torch.Tensor, item_x: torch.Tensor) -> torch.Tensor:
        """<user_x[u_e], item_x[i_e]> for every edge e, in edge order (no gradient)."""
        pattern = self.user_matrix(torch.zeros_like(self.users, dtype=user_x.dtype))
        return torch.sparse.sampled_addmm(pattern, user_x, item_x.T, beta=0.0).values()

    def dot(self, user_x: torch.Tensor, item_x: torch.Tensor) -> torch.Tensor:
        """Differentiable <user_x[u_e], item_x[i_e]> for every edge e."""
        return _EdgeDot.apply(self, user_x, item_x)

    def to_users(self, weights: torch.Tensor, item_x: torch.Tensor) -> torch.Tensor:
        """Differentiable sum over each user's edges of weights[e] * item_x[i_e]: [n_users, dim]."""
        return _ToUsers.apply(self, weights, item_x)

    def to_items(self, weights: torch.Tensor, user_x: torch.Tensor) -> torch.Tensor:
        """Differentiable sum over each item's edges of weights[e] * user_x[u_e]: [n_items, dim]."""
        return _ToItems.apply(self, weights, user_x)


class _EdgeDot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, edges: BipartiteEdges, user_x: torch.Tensor, item_x: torch.Tensor) -> torch.Tensor:
        ctx.edges = edges
        ctx.save_for_backward(user_x, item_x)
        return edges.sampled_dot(user_x, item_x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor, torch.Tensor]:
        user_x, item_x = ctx.saved_tensors
        edges = ctx.edges
        return None, edges.user_matrix(grad) @ item_x, edges.item_matrix(grad) @ user_x


class _ToUsers(torch.autograd.Function):
    @staticmethod
    def forward(ctx, edges: BipartiteEdges, weights: torch.Tensor, item_x: torch.Tensor) -> torch.Tensor:
        ctx.edges = edges
        ctx.save_for_backward(weights, item_x)
        return edges.user_matrix(weights) @ item_x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor, torch.Tensor]:
        weights, item_x = ctx.saved_tensors
        edges = ctx.edges
        return None, edges.sampled_dot(grad, item_x), edges.item_matrix(weights) @ grad


class _ToItems(torch.autograd.Function):
    @staticmethod
    def forward(ctx, edges: BipartiteEdges, weights: torch.Tensor, user_x: torch.Tensor) -> torch.Tensor:
        ctx.edges = edges
        ctx.save_for_backward(weights, user_x)
        return edges.item_matrix(weights) @ user_x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor, torch.Tensor]:
        weights, user_x = ctx.saved_tensors
        edges = ctx.edges
        return None, edges.sampled_dot(user_x, grad), edges.user_matrix(weights) @ grad


@dataclass(frozen=True)
class RefinedEdges:
    """The refined graph: for training edge e = (users[e], items[e]), the weight of the message
    from the item to the user (``to_user``) and from the user to the item (``to_item``)."""

    users: torch.Tensor
    items: torch.Tensor
    to_user: torch.Tensor
    to_item: torch.Tensor

    def adjacency(self, n_users: int, n_items: int) -> torch.Tensor:
        """The refined graph as a sparse COO (users + items) matrix: entry [target, source] is the
        weight of the message from source to target; zero weights are dropped."""
        rows = torch.cat([self.users, self.items + n_users])
        cols = torch.cat([self.items + n_users, self.users])
        values = torch.cat([self.to_user, self.to_item]).detach()
        kept = values != 0
        n_nodes = n_users + n_items
        return torch.sparse_coo_tensor(
            torch.stack([rows[kept], cols[kept]]), values[kept], (n_nodes, n_nodes), check_invariants=False
        ).coalesce()


class _ModalityRefiner(nn.Module):
    """One modality of the graph refining layer: prototypes, routing, and edge affinities."""

    def __init__(self, features: np.ndarray, n_users: int, config: GRCNConfig) -> None:
        super().__init__()
        raw = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        self.register_buffer("features", raw, persistent=False)
        self.projection = nn.Linear(raw.shape[1], config.content_dim)
        self.preference = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_users, config.content_dim)))
        self.n_routing = config.n_routing

    def forward(self, edges: BipartiteEdges) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Content representations of users and items, and the softmax-normalised affinity of each
        training edge as seen from its user (``to_user``) and from its item (``to_item``)."""
        item_proto = F.normalize(F.leaky_relu(self.projection(self.features)), dim=1)
        user_proto = F.normalize(self.preference, dim=1)
        for _ in range(self.n_routing):
            routing = segment_softmax(edges.dot(user_proto, item_proto), edges.users, edges.n_users)
            user_proto = F.normalize(user_proto + edges.to_users(routing, item_proto), dim=1)
        affinity = edges.dot(user_proto, item_proto)
        to_user = segment_softmax(affinity, edges.users, edges.n_users)
        to_item = segment_softmax(affinity, edges.items, edges.n_items)
        user_content = user_proto + edges.to_users(to_user, item_proto)
        item_content = item_proto + edges.to_items(to_item, user_proto)
        return user_content, item_content, to_user, to_item


class GRCN(PropagatedEmbeddingModel):
    """GRCN: ID embeddings propagated over a training graph re-weighted by modality affinities.

    Per modality m and training edge (u, i), with routed user prototype p_u and item prototype
    f_i, a_ui = p_u . f_i; s_{u<-i} = softmax of a over u's items, s_{i<-u} = softmax of a over
    i's users. The refined weight of the message from source v to target t is
    w = ReLU(max_m theta_{v,m} s^m_{t<-v}) (``weight_mode=confid``), with theta a learned
    confidence per node and modality; so 0 <= w <= max_m |theta_{v,m}| with pruning. With
    ``max`` / ``mean``, w is the max / mean over modalities of s, in (0, 1]. Only training edges
    carry a weight; pruning can set it to 0, never add an edge.

    Written from the paper; where the authors' code (weiyinwei/GRCN) departs from it:

    - Routing: the paper refines each user prototype from its items for a few iterations. In the
      code the routing messages flow along the one-directional (user, item) edge list, which
      torch_geometric aggregates at the items, so the users receive nothing and the iterations
      leave the prototypes unchanged (MMRec inherits this). We route as the paper describes;
      ``n_routing=0`` gives what the codes compute.
    - Everything else follows the code, which the paper describes less precisely: the affinity
      softmax is taken per direction (over the target's neighbours), the confidences multiply the
      score of the message's source node, the confidence table is not regularised (the code
      computes that penalty and drops it), content representations add the affinity-weighted
      neighbour prototypes to the node's own (no activation, ``has_act`` False), ID embeddings
      are L2-normalised before propagation (``has_norm`` True), layers are summed
      (x + A x + A^2 x), and the prediction concatenates ID and content vectors
      (``fusion_mode`` concat).
    - Pruning: the README calls ``is_pruning=True`` (the ReLU) "hard" and False (no ReLU) "soft"
      pruning, and its commands for all three of its datasets use False, which matches the
      abstract's "prune them in a soft manner"; ``main.py`` defaults to True and MMRec always
      prunes. We follow ``main.py`` and MMRec (``pruning=True``); ``pruning=False`` is the
      README's setting, also an ablation variant. In the code the softmax scores are positive, so
      a weight is cut only when the source node's confidences are negative in every modality;
      the ReLU then passes no gradient to them, so such a node stays cut as a source (at the
      Xavier initialisation about one node in 2^M starts so). We keep this behaviour.

    Deliberate differences of ours, from the code and MMRec:

    - Any number of modalities, named by the dataset. MMRec uses only image and text (its audio
      branch is commented out) and fails with text alone (a misspelt variable); the code reads
      TikTok's text as word ids averaged per item, while here every modality is a dense matrix.
    - The penalty weights are the code's, in its per-element mean form: mean squared entry of the
      batch users' raw ID embeddings plus half that of the positive and negative items', plus the
      mean squared entry of the batch users' prototypes in each modality. MMRec also adds every
      user's image prototypes once more; we do not.
    - No edge dropout (the code's ``dropout`` defaults to 0 and its README commands use 0).
    - Initialisation as in the code (Xavier-normal ID embeddings, prototypes and confidences;
      default ``nn.Linear`` projections; MMRec re-initialises them Xavier-normal).
    - Evaluation propagates the current parameters once per pass; the code and MMRec score with
      the representations cached by the last training forward, one optimiser step stale.
    - The code's evaluation gives training items a score of 1e-5 rather than excluding them; the
      shared evaluator masks them.
    """

    config_class = GRCNConfig
    needs_features = True
    # The penalty of the authors' README command for their TikTok (36,656 users, 76,085 items,
    # word-id text), not the MMSSL TikTok we ship; its lr 1e-4 is the default, and its
    # is_pruning=False is not carried over (see the class docstring). None given for lfm2k.
    dataset_presets = {"tiktok": {"reg_weight": 1e-3}}
    search_space = {
        # Around the code's settings (lr 1e-4 in every README command) and MMRec's grids
        # (lr 1e-4 .. 1, reg_weight 1e-5 .. 1e-1); rates above 1e-2 are left out.
        "lr": FloatParam(1e-4, 1e-2, log=True),
        "reg_weight": FloatParam(1e-5, 1e-1, log=True),
        "n_routing": IntParam(0, 5),
        "weight_mode": Categorical(list(WEIGHT_MODES)),
        "pruning": Categorical([True, False]),
    }

    @classmethod
    def ablation_variants(cls, modalities: tuple[str, ...]) -> dict[str, AblationVariant]:
        """Modality removal, plus the paper's refining choices: no pruning, no routing, and the
        two integrations without confidences."""
        variants = dict(modality_removal_variants(modalities))
        variants["w/o-pruning"] = AblationVariant(overrides={"pruning": "false"})
        variants["w/o-routing"] = AblationVariant(overrides={"n_routing": "0"})
        variants["max-integration"] = AblationVariant(overrides={"weight_mode": "max"})
        variants["mean-integration"] = AblationVariant(overrides={"weight_mode": "mean"})
        return variants

    def __init__(self, view: TrainView, config: GRCNConfig) -> None:
        super().__init__(view, config)
        self.edges = BipartiteEdges(*training_edges(view.train), view.n_users, view.n_items)
        n_nodes = view.n_users + view.n_items
        self.id_embedding = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_nodes, config.embedding_dim)))
        self.refiners = nn.ModuleList(
            _ModalityRefiner(view.features[name], view.n_users, config) for name in view.modalities
        )
        self.confidence = nn.Parameter(nn.init.xavier_normal_(torch.empty(n_nodes, len(view.modalities))))

    def _combine(self, scores: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        """One refined weight per edge from the modality scores [E, M] of messages leaving the
        node ids ``sources``: weight_mode's integration, then pruning."""
        mode = self.config.weight_mode
        if mode == "confid":
            weights = (scores * self.confidence[sources]).max(dim=1).values
        elif mode == "max":
            weights = scores.max(dim=1).values
        else:
            weights = scores.mean(dim=1)
        return torch.relu(weights) if self.config.pruning else weights

    def _refine(self) -> tuple[RefinedEdges, list[torch.Tensor]]:
        """The refined edge weights and each modality's content representations (users first)."""
        users, items = self.edges.users, self.edges.items
        contents, to_user, to_item = [], [], []
        for refiner in self.refiners:
            user_content, item_content, score_to_user, score_to_item = refiner(self.edges)
            contents.append(torch.cat([user_content, item_content]))
            to_user.append(score_to_user)
            to_item.append(score_to_item)
        edges = RefinedEdges(
            users,
            items,
            to_user=self._combine(torch.stack(to_user, dim=1), items + self.n_users),
            to_item=self._combine(torch.stack(to_item, dim=1), users),
        )
        return edges, contents

    def refined_graph(self) -> RefinedEdges:
        """The current refined graph (training edges and their two directional weights)."""
        return self._refine()[0]

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final representations: [ID; content_1; ...; content_M] for users and items."""
        edges, contents = self._refine()
        layer = F.normalize(self.id_embedding, dim=1)
        total = layer
        for _ in range(self.config.n_layers):
            layer = torch.cat(
                [
                    self.edges.to_users(edges.to_user, layer[self.n_users :]),
                    self.edges.to_items(edges.to_item, layer[: self.n_users]),
                ]
            )
            total = total + layer
        final = torch.cat([total, *contents], dim=1)
        return final[: self.n_users], final[self.n_users :]

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        """BPR on the full forward pass, plus ``reg_weight`` times the code's penalty: the mean
        squared entry of the batch users' raw ID embeddings, half those of the positive and of the
        negative items', and that of the batch users' raw prototypes in each modality."""
        users_all, items_all = self.propagate()
        users = users_all[batch.users]
        ranking = bpr_loss(
            (users * items_all[batch.pos_items]).sum(-1), (users * items_all[batch.neg_items]).sum(-1)
        )
        ids = self.id_embedding
        pos = ids[batch.pos_items + self.n_users]
        neg = ids[batch.neg_items + self.n_users]
        penalty = ids[batch.users].pow(2).mean() + 0.5 * (pos.pow(2).mean() + neg.pow(2).mean())
        for refiner in self.refiners:
            penalty = penalty + refiner.preference[batch.users].pow(2).mean()
        reg = self.config.reg_weight * penalty
        return {"loss": ranking + reg, "bpr": ranking, "reg": reg}
