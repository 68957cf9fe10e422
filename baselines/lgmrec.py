"""LGMRec (Guo et al., "LGMRec: Local and Global Graph Learning for Multimodal Recommendation", AAAI 2024).

LGMRec keeps the collaborative signal and the modality signals apart in a local module and adds
global interests learned on a hypergraph. With M the dataset's modalities, X_m the item features of
modality m ([n_items, d_m]), R the binary training matrix and A_hat = D^-1/2 A D^-1/2 the normalised
user-item graph:

1. collaborative graph embedding (CGE): LightGCN on ID embeddings, E_id = mean_{l=0..L} A_hat^l E^0;
2. modality graph embedding (MGE), per modality: items start from X_m W_m, users from the mean of
   their training items' projections, and K products with A_hat give E_m (the last layer);
3. local embedding: E_lge = E_id + sum_m normalise(E_m);
4. global hypergraph embedding (GHE), per modality: V_m holds A learnable hyperedge embeddings in the
   feature space; the item-hyperedge logits are X_m V_m^T, the user-hyperedge logits R X_m V_m^T (the
   sum over the user's items); a Gumbel-softmax over the A hyperedges turns them into dependency
   matrices H_i^m [n_items, A] and H_u^m [n_users, A]. Starting from the CGE item embeddings, H
   layers of item -> hyperedge -> item passing (edges = H_i^T E_i, E_i <- H_i edges, users get
   H_u edges), with dropout on H_i and H_u, give the global embeddings G_m of users and items;
5. final embedding: E = E_lge + alpha * normalise(sum_m G_m); score = <e_u, e_i>;
6. loss: BPR + cl_weight * HCL + reg_weight * L2, where the hypergraph contrastive loss HCL is an
   InfoNCE between the global embeddings of two modalities, for the batch's users (negatives: all
   users) and for its positive items (negatives: all items), summed over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from mmbench.config import TrainConfig, require_at_least, require_positive
from mmbench.data.dataset import TrainView
from mmbench.errors import ConfigError
from mmbench.models.base import AblationVariant, BprBatch, PropagatedEmbeddingModel, modality_removal_variants
from mmbench.models.embeddings import id_embeddings
from mmbench.models.graph import (
    layer_mean_propagation,
    sparse_matmul,
    symmetric_bipartite_adjacency,
    to_torch_csr,
    transpose_csr,
)
from mmbench.models.losses import regularised_bpr
from mmbench.search_space import FloatParam, IntParam


@dataclass(frozen=True)
class LGMRecConfig(TrainConfig):
    """LGMRec's settings. Defaults: MMRec ``src/configs/model/LGMRec.yaml`` (its uncommented values,
    those of Amazon Baby, identical in georgeguo-cn/LGMRec) on MMRec's ``overall.yaml`` trainer
    (Adam, lr 1e-3, batch 2048, up to 1000 epochs evaluated every epoch, early stopping after 20
    evaluations without a better valid recall@20, the shared trainer's defaults).

    The yaml's per-dataset values (n_hyper_layers / n_hyperedges / keep_rate / alpha): Baby 1 / 4 /
    0.5 / 0.3 (the defaults), Sports 1 / 4 / 0.4 / 0.6, Clothing 2 / 64 / 0.2 / 0.2. The authors give
    none for TikTok or Last.fm-2K, so ``LGMRec.dataset_presets`` is empty and both use the defaults.
    """

    # Width of the ID embeddings, and of the projected modality features (MMRec's embedding_size
    # and feat_embed_dim, both 64; the local sum needs them equal, so here they are one key).
    embedding_dim: int = 64
    # LightGCN layers of the collaborative graph embedding (yaml n_ui_layers: 2); 0 gives the
    # yaml's cf_model: mf (the raw ID embeddings).
    n_ui_layers: int = 2
    # Graph products of the modality graph embedding (yaml n_mm_layers: 2).
    n_mm_layers: int = 2
    # Hypergraph passing layers (yaml n_hyper_layer: 1).
    n_hyper_layers: int = 1
    # Hyperedges per modality, the columns of every dependency matrix (yaml hyper_num: 4).
    n_hyperedges: int = 4
    # Kept fraction of the dependency entries in hypergraph passing (yaml keep_rate: 0.5).
    keep_rate: float = 0.5
    # Weight of the normalised global embedding in the final embedding (yaml alpha: 0.3).
    alpha: float = 0.3
    # Weight of the hypergraph contrastive loss (yaml cl_weight: 1e-4; it multiplies a sum over
    # the batch, not a mean).
    cl_weight: float = 1e-4
    # Weight of the L2 penalty on the batch's final embeddings (yaml reg_weight: 1e-6).
    reg_weight: float = 1e-6
    # Temperature of both the Gumbel-softmax and the InfoNCE (hard-coded self.tau = 0.2 in the code).
    temperature: float = 0.2
    # False drops the modality graph embeddings from the local embedding (an ablation of MGE);
    # mmbench's switch, the authors' code always uses them.
    local_modality: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least(self, 1, "embedding_dim", "n_hyper_layers", "n_hyperedges")
        require_at_least(self, 0, "n_ui_layers", "n_mm_layers")
        if not 0.0 < self.keep_rate <= 1.0:
            raise ConfigError(
                f"config key 'keep_rate' must be in (0, 1] (the kept fraction; 1 = no dropout), "
                f"got {self.keep_rate}"
            )
        require_at_least(self, 0, "alpha", "cl_weight", "reg_weight")
        require_positive(self, "temperature")


class ModalityBranch(nn.Module):
    """One modality: its fixed item features, the projection W_m and the hyperedge embeddings V_m."""

    def __init__(self, features: np.ndarray, embedding_dim: int, n_hyperedges: int) -> None:
        super().__init__()
        raw = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        # Non-persistent: rebuilt from the data, not checkpointed.
        self.register_buffer("features", raw, persistent=False)
        self.projection = nn.Parameter(nn.init.xavier_uniform_(torch.empty(raw.shape[1], embedding_dim)))
        # V_m: one row per hyperedge, in the modality's raw feature space.
        self.hyperedges = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_hyperedges, raw.shape[1])))

    def projected_items(self) -> torch.Tensor:
        """X_m W_m: the items' features mapped to the embedding width."""
        return self.features @ self.projection

    def item_hyperedge_logits(self) -> torch.Tensor:
        """X_m V_m^T: each item's affinity to each hyperedge, [n_items, n_hyperedges]."""
        return self.features @ self.hyperedges.T


def _info_nce_against_all(
    anchors: torch.Tensor, candidates: torch.Tensor, targets: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Sum over anchors of -log softmax_j(cos(anchor, candidate_j) / temperature)[target].

    Unlike :func:`mmbench.models.losses.info_nce` (in-batch negatives), the negatives are every
    row of ``candidates`` (all users or all items), as in the LGMRec code; the positive is row
    ``targets[k]`` for anchor k, which is also in the denominator.
    """
    # Scaling the [batch, d] anchors instead of the [batch, n] logits: same values, less work.
    logits = (F.normalize(anchors, dim=1) / temperature) @ F.normalize(candidates, dim=1).T
    return F.cross_entropy(logits, targets, reduction="sum")


class LGMRec(PropagatedEmbeddingModel):
    """LGMRec: decoupled local (LightGCN + modality graph) and global hypergraph embeddings (AAAI 2024).

    Written from the paper and the authors' code (georgeguo-cn/LGMRec ``models/lgmrec.py``, and
    its copy in MMRec ``src/models/lgmrec.py``; the two differ in one line, see below). Where the
    code departs from the paper, or the two copies from each other, and which one is followed:

    - The code draws the Gumbel noise at evaluation too (``F.gumbel_softmax`` does not look at the
      training flag), so its scores are random. Here training draws standard Gumbel noise
      (``F.gumbel_softmax``, hard=False, the code's call) and evaluation uses the noise-free
      softmax(logits / temperature), the usual inference form of a Gumbel-softmax, so that
      evaluation is deterministic. Dropout on the dependency matrices is likewise off at evaluation.
    - The user-hyperedge logits are the sum, not the mean, of the user's items' logits (R X_m V_m^T
      with binary R), as in the code; so heavy users get sharper assignments.
    - The hypergraph user embedding uses the hyperedge embeddings of the last layer's input,
      G_u = H_u (H_i^T E_i^{(H-1)}), and item passing starts from the CGE (layer-mean) item
      embeddings, both as in the code. One dropout mask per matrix and forward pass is shared by
      H_i and H_i^T, as in the code.
    - georgeguo-cn/LGMRec overwrites the visual user dependency matrix with the textual one and
      leaves the textual one without softmax (``uv_hyper = F.gumbel_softmax(ut_hyper, ...)``);
      MMRec's copy fixes it; the paper has one pair of dependency matrices per modality, as here.
    - The regulariser is :func:`~mmbench.models.losses.l2_penalty` (half the squared norm over the
      batch size, mmbench's shared form) on the batch's final user, positive and negative
      embeddings, the matrices the code penalises; the code adds their unsquared Frobenius norms
      and divides by the batch size. At reg_weight 1e-6 either is negligible.
    - The contrastive loss is summed over the batch, with every user / item as a negative, as in
      the code (not in-batch negatives). Duplicate users of a batch count once per triple, as
      in the code, which uses the batch's users and positive items as they come.
    - The modality graph embedding keeps only the last of its K layers and the collaborative one
      averages layers 0..L, in the paper and the code alike.

    Deliberate differences of mmbench's:

    - Any number of modalities. With two, the contrastive loss is the code's single direction
      (the first modality in sorted order is the anchor, the second gives positives and
      negatives); with more, it sums that loss over every pair (m, m') with m before m'; with one
      there is no pair and no contrastive term (the loss has no ``hcl`` part). The authors' code
      handles exactly image + text; with a single modality its forward pass returns names it never
      defined.
    - The graph normalisation gives isolated nodes (TikTok's users without training items, cold
      items) zero rows, where the code adds 1e-7 to the degrees; the result is the same.
    - ``local_modality=false`` removes the modality graph embeddings (an ablation of MGE, not in
      the code); ``alpha=0`` with ``cl_weight=0`` removes the global module (GHE), and then the
      hypergraph is not computed at all.
    - No learning-rate schedule: MMRec's default [1.0, 50] never changes the rate anyway.
    """

    config_class = LGMRecConfig
    needs_features = True
    # The authors give no settings for TikTok or Last.fm-2K (see LGMRecConfig for Baby, Sports and
    # Clothing); both run on the defaults.
    dataset_presets = {}
    # The authors' grid (georgeguo-cn/LGMRec configs/model/LGMGN.yaml, commented out there):
    # layers 1-4, hyper_num 2-256, keep_rate 0.1-1.0, alpha 0-1, cl_weight and reg_weight 0 or
    # 1e-6..0.1. A log range cannot hold 0; the ablation variants cover the zero weights.
    search_space = {
        "n_ui_layers": IntParam(1, 4),
        "n_mm_layers": IntParam(1, 4),
        "n_hyper_layers": IntParam(1, 4),
        "n_hyperedges": IntParam(2, 256, log=True),
        "keep_rate": FloatParam(0.1, 1.0),
        "alpha": FloatParam(0.0, 1.0),
        "cl_weight": FloatParam(1e-6, 1e-1, log=True),
        "reg_weight": FloatParam(1e-6, 1e-1, log=True),
    }

    @classmethod
    def ablation_variants(cls, modalities: tuple[str, ...]) -> dict[str, AblationVariant]:
        """Module ablations (without the global module, without the contrastive loss, which needs
        two feature sets, without the modality graph embeddings), then one variant per removed
        feature set."""
        variants = {"w/o-global": AblationVariant(overrides={"alpha": "0", "cl_weight": "0"})}
        if len(modalities) >= 2:
            variants["w/o-hcl"] = AblationVariant(overrides={"cl_weight": "0"})
        variants["w/o-local-modality"] = AblationVariant(overrides={"local_modality": "false"})
        return {**variants, **modality_removal_variants(modalities)}

    def __init__(self, view: TrainView, config: LGMRecConfig) -> None:
        super().__init__(view, config)
        self.user_embedding, self.item_embedding = id_embeddings(view.n_users, view.n_items, config.embedding_dim)
        # D^-1/2 A D^-1/2 is symmetric: it is its own transpose for sparse_matmul's backward.
        self.register_buffer("adjacency", symmetric_bipartite_adjacency(view.train), persistent=False)
        binary = (view.train > 0).astype(np.float32).tocsr()
        degree = np.asarray(binary.sum(axis=1)).ravel()
        inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
        # R (users x items, binary) sums over a user's items; D_u^-1 R averages over them.
        for name, matrix in (("interactions", binary), ("user_mean", sp.diags(inverse) @ binary)):
            csr = to_torch_csr(matrix)
            self.register_buffer(name, csr, persistent=False)
            self.register_buffer(f"{name}_t", transpose_csr(csr), persistent=False)
        self.modality_names = tuple(view.modalities)
        self.branches = nn.ModuleList(
            ModalityBranch(view.features[name], config.embedding_dim, config.n_hyperedges)
            for name in self.modality_names
        )
        self.dependency_dropout = nn.Dropout(p=1.0 - config.keep_rate)

    @property
    def uses_global(self) -> bool:
        """Whether the hypergraph is computed: it feeds the final embedding or the contrastive loss."""
        return self.config.alpha > 0 or self.contrastive_pairs() != []

    def contrastive_pairs(self) -> list[tuple[int, int]]:
        """(anchor, other) modality indices of the contrastive loss; empty when it is off."""
        if self.config.cl_weight == 0:
            return []
        return list(combinations(range(len(self.branches)), 2))

    def collaborative_embeddings(self) -> torch.Tensor:
        """E_id: LightGCN's mean over layers 0..n_ui_layers of the users' and items' ID embeddings."""
        embeddings = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        return layer_mean_propagation(self.adjacency, embeddings, self.config.n_ui_layers)

    def modality_embeddings(self, branch: ModalityBranch) -> torch.Tensor:
        """E_m: projected item features and users' means of them, after n_mm_layers graph products."""
        items = branch.projected_items()
        users = sparse_matmul(self.user_mean, self.user_mean_t, items)
        nodes = torch.cat([users, items])
        for _ in range(self.config.n_mm_layers):
            nodes = sparse_matmul(self.adjacency, self.adjacency, nodes)
        return nodes

    def _assign(self, logits: torch.Tensor) -> torch.Tensor:
        """Rows of logits to soft hyperedge assignments: Gumbel-softmax in training, softmax otherwise."""
        if self.training:
            return F.gumbel_softmax(logits, tau=self.config.temperature, hard=False, dim=1)
        return torch.softmax(logits / self.config.temperature, dim=1)

    def hyperedge_dependencies(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(H_u^m [n_users, n_hyperedges], H_i^m [n_items, n_hyperedges]) for each modality, in
        ``modality_names`` order, before dropout."""
        dependencies = []
        for branch in self.branches:
            item_logits = branch.item_hyperedge_logits()
            user_logits = sparse_matmul(self.interactions, self.interactions_t, item_logits)
            dependencies.append((self._assign(user_logits), self._assign(item_logits)))
        return dependencies

    def global_embeddings(self, items: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(users, items) hypergraph embeddings of each modality, passing from ``items`` (E_id's items)."""
        result = []
        for user_dependency, item_dependency in self.hyperedge_dependencies():
            user_dependency = self.dependency_dropout(user_dependency)
            item_dependency = self.dependency_dropout(item_dependency)
            item_state = items
            for _ in range(self.config.n_hyper_layers):
                edges = item_dependency.T @ item_state
                item_state = item_dependency @ edges
            result.append((user_dependency @ edges, item_state))
        return result

    def embeddings(self) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Final embeddings of all users then all items, and the per-modality global embeddings
        (empty when the global module is off)."""
        collaborative = self.collaborative_embeddings()
        final = collaborative
        if self.config.local_modality:
            final = final + sum(F.normalize(self.modality_embeddings(b), dim=1) for b in self.branches)
        global_parts = self.global_embeddings(collaborative[self.n_users :]) if self.uses_global else []
        if global_parts and self.config.alpha > 0:
            total = sum(torch.cat([users, items]) for users, items in global_parts)
            final = final + self.config.alpha * F.normalize(total, dim=1)
        return final, global_parts

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        final, _ = self.embeddings()
        return final[: self.n_users], final[self.n_users :]

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        final, global_parts = self.embeddings()
        parts = regularised_bpr(final[: self.n_users], final[self.n_users :], batch, self.config.reg_weight)
        total = parts["bpr"] + parts["reg"]
        pairs = self.contrastive_pairs()
        if pairs:
            tau = self.config.temperature
            hcl = sum(
                _info_nce_against_all(global_parts[a][0][batch.users], global_parts[b][0], batch.users, tau)
                + _info_nce_against_all(
                    global_parts[a][1][batch.pos_items], global_parts[b][1], batch.pos_items, tau
                )
                for a, b in pairs
            )
            parts["hcl"] = hcl
            total = total + self.config.cl_weight * hcl
        return {"loss": total, **parts}
