"""SLMRec (Tao et al., "Self-supervised Learning for Multimedia Recommendation", IEEE TMM 2022).

SLMRec runs one LightGCN-style graph per view of the items: their ID embeddings, and each
modality's features projected to the embedding width. All views share the user ID embeddings as
their user inputs. With ``V`` = 1 + number of modalities views, embedding width ``d``:

1. item inputs: ``e_i`` (ID) and ``f_m = W_m normalise(x_m) + b_m`` per modality ``m``;
2. per view ``v``: ``[U_v; I_v] = mean_{l=0..L} A^l [E_u; item inputs of v]`` with
   ``A = D^-1/2 A D^-1/2`` of the user-item graph;
3. fusion: ``u = W_u [U_id | U_m1 | ... ] + b_u`` and ``i = W_i [I_id | I_m1 | ... ] + b_i``;
4. score ``s(u, i) = <u, i>``.

Training adds a weighted self-supervised task to the main task: ``loss = main + ssl_alpha * ssl``.
The main task of the authors' code is an in-batch InfoNCE between each user and its positive item
(cosine / ``temp``). The SSL task (``ssl_task``) is one of:

- ``FAC`` (fine and coarse spaces): the items' ID view is aligned with their modality views in a
  chain of spaces, the finest first. Space 1 holds ``g_1(I_id)`` and ``p_1(I_m1)``; space ``k``
  holds ``g_k(previous ID point)`` and ``p_k(I_mk)``; each space adds an InfoNCE between the two.
  Every space is ``d`` wide except the last, coarsest one: ``d / 2`` when there are two or more
  modalities (the code's text space, after visual and acoustic spaces of width ``d``);
- ``FD`` (feature dropout): two views of every node, each with dropout on every propagated layer;
  InfoNCE between the two views of the batch's users, plus the same for its positive items;
- ``FM`` (feature masking): two views, each with the item inputs of one view (ID or a modality,
  two different ones drawn at random) set to zero; the same InfoNCE pair;
- ``FD+FM``: masking and dropout together.

Every InfoNCE is :func:`mmbench.models.losses.info_nce` (cosine similarities over in-batch
negatives).
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmbench.config import TrainConfig, require_at_least, require_dropout, require_positive
from mmbench.data.dataset import TrainView
from mmbench.errors import ConfigError
from mmbench.models.base import AblationVariant, BprBatch, PropagatedEmbeddingModel, modality_removal_variants
from mmbench.models.embeddings import id_embeddings
from mmbench.models.graph import sparse_matmul, symmetric_bipartite_adjacency
from mmbench.models.losses import dot_bpr_loss, info_nce
from mmbench.search_space import FloatParam

SSL_TASKS = ("FAC", "FD", "FM", "FD+FM")
MAIN_LOSSES = ("infonce", "bpr")


@dataclass(frozen=True)
class SLMRecConfig(TrainConfig):
    """Defaults of the authors' code, zltao/SLMRec ``conf/SLMRec.properties`` with ``loss=multi_loss``
    (also MMRec ``src/configs/model/SLMRec.yaml`` where it fixes a value): Adam lr 0.01,
    weight_decay 1e-4 (the only L2 term), batch 2048, embedding width 64 (``recdim``), 3 layers
    (``layer_num``), ``temp`` 0.2, ``ssl_task`` FAC, ``ssl_alpha`` 0.1, ``ssl_temp`` 0.2,
    ``dropout_rate`` 0.3, evaluation every epoch (``test_step=1``), stop after 50 epochs without
    a better validation score (``stop_cnt=50``), 1000 epochs at most.

    MMRec keeps these fixed values and searches ``learning_rate`` and ``reg`` in
    {1e-4, 1e-3, 1e-2, 0.1}, ``ssl_alpha`` in {0.01, 0.05, 0.1, 0.5, 1.0} and ``ssl_temp`` in
    {0.1, 0.2, 0.5, 1.0}; its ``reg`` is never read by its SLMRec. The authors' ``run.sh`` takes
    lr, weight_decay, ssl_alpha and ssl_temp per dataset on the command line, but publishes no
    values.

    ``main_loss``: ``infonce`` (the code's ``multi_loss``) or ``bpr`` (BPR on the dot products of
    the sampled triples). ``fac_order`` is mmbench's: the modalities in FAC's chain of spaces,
    finest first, as comma-separated names; names the run does not use are skipped (so a dataset
    preset survives a modality ablation) and unnamed modalities follow in sorted order. Empty: the
    dataset's sorted order.
    """

    epochs: int = 1000
    batch_size: int = 2048
    lr: float = 0.01
    weight_decay: float = 1e-4
    eval_every: int = 1
    patience: int = 50
    embedding_dim: int = 64
    n_layers: int = 3
    main_loss: str = "infonce"
    temp: float = 0.2
    ssl_task: str = "FAC"
    ssl_alpha: float = 0.1
    ssl_temp: float = 0.2
    dropout_rate: float = 0.3
    fac_order: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ssl_task not in SSL_TASKS:
            raise ConfigError(f"unknown ssl_task {self.ssl_task!r}; valid values: {', '.join(SSL_TASKS)}")
        if self.main_loss not in MAIN_LOSSES:
            raise ConfigError(f"unknown main_loss {self.main_loss!r}; valid values: {', '.join(MAIN_LOSSES)}")
        require_at_least(self, 2, "embedding_dim")
        require_at_least(self, 0, "n_layers")
        require_positive(self, "temp", "ssl_temp")
        if self.ssl_alpha < 0:
            raise ConfigError(
                f"config key 'ssl_alpha' must be >= 0 (0 turns the SSL task off), got {self.ssl_alpha}"
            )
        require_dropout(self, "dropout_rate")


def fac_modality_order(modalities: tuple[str, ...], fac_order: str) -> tuple[str, ...]:
    """The modalities in FAC's chain, finest space first: those named in ``fac_order`` (comma-
    separated; names not in ``modalities`` are skipped), then the others in sorted order."""
    named = [name.strip() for name in fac_order.split(",") if name.strip()]
    first = [name for name in dict.fromkeys(named) if name in modalities]
    return tuple(first) + tuple(sorted(set(modalities) - set(first)))


class FacHeads(nn.Module):
    """FAC's linear maps: the ID chain ``g_k`` and one map ``p_k`` per modality into space ``k``."""

    def __init__(self, dim: int, n_modalities: int) -> None:
        super().__init__()
        widths = [dim] * n_modalities
        if n_modalities >= 2:
            widths[-1] = dim // 2
        self.id_maps = nn.ModuleList(
            nn.Linear(dim if k == 0 else widths[k - 1], widths[k]) for k in range(n_modalities)
        )
        self.modality_maps = nn.ModuleList(nn.Linear(dim, width) for width in widths)
        for layer in [*self.id_maps, *self.modality_maps]:
            nn.init.xavier_uniform_(layer.weight)

    def loss(
        self, id_items: torch.Tensor, modality_items: list[torch.Tensor], temperature: float
    ) -> torch.Tensor:
        """Sum over the spaces of InfoNCE(ID point, modality point); ``modality_items`` in chain order."""
        point = id_items
        total = id_items.new_zeros(())
        for id_map, modality_map, items in zip(self.id_maps, self.modality_maps, modality_items):
            point = id_map(point)
            total = total + info_nce(point, modality_map(items), temperature)
        return total


class SLMRec(PropagatedEmbeddingModel):
    """SLMRec: per-view LightGCN graphs fused by a linear layer, plus a self-supervised task.

    Written from the authors' code (zltao/SLMRec ``models/SLMRec.py``, ``models/BasicModel.py``,
    ``main.py``) and MMRec's port (``src/models/slmrec.py``); the paper's text was not available
    to us, so where the code and the paper might differ we follow the code.

    Where the authors' code and MMRec's port differ, and which we follow:

    - FAC: the authors' code has a visual, an acoustic and a textual space (TikTok and MovieLens;
      only the visual one on Kwai). MMRec has image and text only: its audio loss is commented
      out but its text space is still reached through the unused acoustic map. Here the chain has
      one space per modality the run uses (see the module docstring), which is the authors' chain
      for three modalities and MMRec's (less the idle map, a product of linear maps) for two.
    - The authors' TikTok text view is a trained mean of word embeddings; here every modality is a
      fixed feature matrix (as in MMRec).
    - The adjacency: D^-1/2 A D^-1/2 in both (MMRec adds 1e-8 to degrees); ours gives isolated
      nodes zero rows.

    Deliberate differences from the authors' code:

    - FAC's InfoNCE is on cosine similarities (:func:`info_nce`); the code divides raw dot products
      of the projected points by ``ssl_temp``. FD, FM and the main task use cosine in the code too.
    - FAC's chain order follows ``fac_order`` (the TikTok preset ``image,audio`` gives the code's
      visual-then-acoustic order); the code hard-wires visual, acoustic, textual.
    - The code's ``mm_fusion_mode: mean`` is not offered: with it the code's fusion layers get
      inputs of the wrong width, so only ``concat`` runs there.
    - FM draws its two masked views with torch's generator instead of NumPy's global one.
    - ``main_loss=bpr`` (BPR on the dot products of the sampled triples) is an option of ours;
      the code's ``bpr_loss`` (BPR on cosines without temperature) is never used with SLMRec.
    - Scoring ranks by the dot product, as the code does (its sigmoid does not change ranks),
      even though the main task trains cosines.
    - Features and adjacency are rebuilt from the data, never cached; any number of modalities.

    The user-item adjacency is symmetric, so it is its own transpose in :func:`sparse_matmul`; all
    views are propagated together as one ``[n_users + n_items, V * d]`` matrix (the product is
    linear, so this equals one propagation per view).
    """

    config_class = SLMRecConfig
    needs_features = True
    # No published per-dataset values (run.sh takes them as arguments); for TikTok we set FAC's
    # chain to the code's visual-then-acoustic order.
    dataset_presets = {"tiktok": {"fac_order": "image,audio"}}
    search_space = {
        "lr": FloatParam(1e-4, 1e-1, log=True),
        "weight_decay": FloatParam(1e-6, 1e-2, log=True),
        "ssl_alpha": FloatParam(0.01, 1.0, log=True),
        "ssl_temp": FloatParam(0.1, 1.0, log=True),
    }

    @classmethod
    def ablation_variants(cls, modalities: tuple[str, ...]) -> dict[str, AblationVariant]:
        """Without the SSL task, each other SSL task in place of FAC, and each modality removed."""
        variants = {"w/o-ssl": AblationVariant(overrides={"ssl_alpha": "0"})}
        for task in SSL_TASKS[1:]:
            variants[f"ssl-{task}"] = AblationVariant(overrides={"ssl_task": task})
        variants.update(modality_removal_variants(modalities))
        return variants

    def __init__(self, view: TrainView, config: SLMRecConfig) -> None:
        super().__init__(view, config)
        dim = config.embedding_dim
        self.modalities = view.modalities
        self.n_views = 1 + len(self.modalities)
        self.user_embedding, self.item_embedding = id_embeddings(view.n_users, view.n_items, dim)
        self.register_buffer("adjacency", symmetric_bipartite_adjacency(view.train), persistent=False)
        self.projections = nn.ModuleList()
        for index, name in enumerate(self.modalities):
            raw = torch.from_numpy(np.ascontiguousarray(view.features[name], dtype=np.float32))
            # Rows are L2-normalised once, as in the code; non-persistent: rebuilt from the data.
            self.register_buffer(f"features_{index}", F.normalize(raw, dim=1), persistent=False)
            projection = nn.Linear(raw.shape[1], dim)
            nn.init.xavier_uniform_(projection.weight)
            self.projections.append(projection)
        self.user_fusion = nn.Linear(self.n_views * dim, dim)
        self.item_fusion = nn.Linear(self.n_views * dim, dim)
        nn.init.xavier_uniform_(self.user_fusion.weight)
        nn.init.xavier_uniform_(self.item_fusion.weight)
        chain = fac_modality_order(self.modalities, config.fac_order)
        # View index (1 + position in self.modalities) of each space of FAC's chain, finest first.
        self.fac_views = tuple(1 + self.modalities.index(name) for name in chain)
        self.fac = FacHeads(dim, len(self.modalities)) if config.ssl_task == "FAC" else None

    def modality_inputs(self) -> list[torch.Tensor]:
        """The item inputs of the views: ID embeddings, then each projected modality."""
        features = [getattr(self, f"features_{index}") for index in range(len(self.modalities))]
        return [self.item_embedding.weight] + [p(x) for p, x in zip(self.projections, features)]

    def layer_zero(self, item_inputs: list[torch.Tensor], masked_view: int | None = None) -> torch.Tensor:
        """``[n_users + n_items, V * d]``: the shared user embeddings above each view's item inputs;
        the item inputs of ``masked_view`` (if any) are zeros."""
        if masked_view is not None:
            item_inputs = list(item_inputs)
            item_inputs[masked_view] = torch.zeros_like(item_inputs[masked_view])
        users = self.user_embedding.weight.repeat(1, self.n_views)
        return torch.cat([users, torch.cat(item_inputs, dim=1)])

    def propagate_views(self, layer0: torch.Tensor, dropout: float = 0.0) -> torch.Tensor:
        """Mean over layers 0..L of ``A^l layer0``; with ``dropout``, each propagated layer is
        dropped out before it feeds the next one (FD), layer 0 never."""
        layer, total = layer0, layer0
        for _ in range(self.config.n_layers):
            layer = sparse_matmul(self.adjacency, self.adjacency, layer)
            if dropout > 0:
                layer = F.dropout(layer, dropout, training=True)
            total = total + layer
        return total / (self.config.n_layers + 1)

    def fuse(
        self, views: torch.Tensor, users: torch.Tensor | None, items: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused embeddings of ``users`` and ``items`` (None: all) from the propagated views."""
        user_rows, item_rows = views[: self.n_users], views[self.n_users :]
        if users is not None:
            user_rows = user_rows[users]
        if items is not None:
            item_rows = item_rows[items]
        return self.user_fusion(user_rows), self.item_fusion(item_rows)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user and item embeddings, without augmentation."""
        views = self.propagate_views(self.layer_zero(self.modality_inputs()))
        return self.fuse(views, None, None)

    def augmented_views(
        self, users: torch.Tensor, items: torch.Tensor, item_inputs: list[torch.Tensor] | None = None
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """Two augmented views ``(users, items)`` of the fused embeddings of ``users`` and ``items``.

        In training mode FD drops out propagated layers and FM zeroes the item inputs of one
        randomly drawn view (a different one in each of the two); in eval mode, and under FAC,
        both views are the clean embeddings.
        """
        task = self.config.ssl_task
        item_inputs = self.modality_inputs() if item_inputs is None else item_inputs
        masks: tuple[int | None, int | None] = (None, None)
        if self.training and task in ("FM", "FD+FM"):
            first, second = torch.randperm(self.n_views)[:2].tolist()
            masks = (first, second)
        dropout = self.config.dropout_rate if self.training and task in ("FD", "FD+FM") else 0.0
        # Both views in one propagation: dropout is element-wise, so the halves stay independent.
        layer0 = torch.cat([self.layer_zero(item_inputs, mask) for mask in masks], dim=1)
        both = self.propagate_views(layer0, dropout)
        width = both.shape[1] // 2
        return (
            self.fuse(both[:, :width], users, items),
            self.fuse(both[:, width:], users, items),
        )

    def ssl_loss(self, batch: BprBatch, item_inputs: list[torch.Tensor], views: torch.Tensor) -> torch.Tensor:
        """The unweighted SSL loss of the batch (users and positive items)."""
        if self.fac is not None:
            items = views[self.n_users :][batch.pos_items]
            dim = self.config.embedding_dim
            modality_items = [items[:, v * dim : (v + 1) * dim] for v in self.fac_views]
            return self.fac.loss(items[:, :dim], modality_items, self.config.ssl_temp)
        views_1, views_2 = self.augmented_views(batch.users, batch.pos_items, item_inputs)
        temperature = self.config.ssl_temp
        return info_nce(views_1[0], views_2[0], temperature) + info_nce(views_1[1], views_2[1], temperature)

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        item_inputs = self.modality_inputs()
        views = self.propagate_views(self.layer_zero(item_inputs))
        if self.config.main_loss == "infonce":
            users, pos = self.fuse(views, batch.users, batch.pos_items)
            main = info_nce(users, pos, self.config.temp)
        else:
            items = torch.cat([batch.pos_items, batch.neg_items])
            users, both = self.fuse(views, batch.users, items)
            pos, neg = both.split(batch.users.shape[0])
            main = dot_bpr_loss(users, pos, neg)
        if self.config.ssl_alpha == 0:
            return {"loss": main, "main": main}
        ssl = self.config.ssl_alpha * self.ssl_loss(batch, item_inputs, views)
        return {"loss": main + ssl, "main": main, "ssl": ssl}
