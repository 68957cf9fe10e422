"""MMSSL (Wei, Huang, Xia, Zhang: "Multi-Modal Self-Supervised Learning for Recommendation", WWW 2023).

Per modality m, a feature branch projects the item features (``F_m = dropout(X_m W_m + b_m)``)
and carries them to users and back over the interaction graph (``H^u_m = P F_m``,
``H^i_m = Q H^u_m``). Structure learning turns the branch's user-item scores into generated
relation rows, trained adversarially against Gumbel-transformed interaction rows by a WGAN-GP
critic (:mod:`mmssl.discriminator`); each user's top-k generated items form the modality's
generated graph (:mod:`mmssl.generated_graphs`). ID embeddings propagated over the generated
graphs give modality-specific views ``Z_m``, fused across modalities (:mod:`mmssl.fusion`) into
the layer-0 embeddings; two sequential user/item propagation layers over the interaction graph
and a layer mean follow, and the final embeddings add ``model_cat_rate * norm(H_m)`` per modality.
Loss: BPR + embedding L2 + feature L2 + ``cl_rate`` * cross-modal InfoNCE on users
+ ``g_rate`` * generator loss. The critic has its own Adam optimiser and takes one step per
batch before the model's step (:meth:`MMSSL.train_step`).

``mmssl`` is the paper's method; ``mmssl-official`` switches on the released code's behaviours
(:class:`mmssl.config.OfficialMMSSLConfig`). Deliberate differences from the code in both:

- the critic and the contrastive loss use the distinct users of a batch (all of them with the
  default ``sampling=users``, the code's sampler);
- Gumbel noise is drawn on training entries only (:mod:`mmssl.rows`);
- the critic's parameters are frozen (no gradient computed) during the model's step; the code
  computes and discards them;
- dead parameters of the code (raw-feature embeddings, unused attention projections) are absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmbench.data.dataset import TrainView
from mmbench.models.base import (
    AblationVariant,
    BprBatch,
    PropagatedEmbeddingModel,
    modality_removal_variants,
)
from mmbench.models.losses import regularised_bpr
from mmbench.search_space import Categorical, FloatParam
from mmssl import rows as R
from mmssl.config import DATASET_PRESETS, MMSSLConfig, OfficialMMSSLConfig
from mmssl.discriminator import Discriminator
from mmssl.fusion import ModalityFusion
from mmssl.generated_graphs import BipartiteOperators, GeneratedGraph, normalised_pair_graph
from mmssl.losses import cross_modal_contrastive_loss, edge_likelihood_loss


@dataclass
class Forward:
    """One forward pass: final embeddings, and the per-modality parts the losses need."""

    users: torch.Tensor
    items: torch.Tensor
    feature_users: dict[str, torch.Tensor]
    feature_items: dict[str, torch.Tensor]
    modality_users: dict[str, torch.Tensor]


def _norm(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, p=2, dim=1)


class MMSSL(PropagatedEmbeddingModel):
    """MMSSL (Wei et al., WWW 2023): adversarial modality graphs and cross-modal contrast, as the paper describes.

    The module docstring describes the parts; ``mmssl/config.py`` the switches that separate the
    paper's method from the released code.
    """

    config_class = MMSSLConfig
    needs_features = True
    dataset_presets = DATASET_PRESETS
    search_space = {
        "lr": FloatParam(1e-4, 2e-3, log=True),
        "d_lr": FloatParam(1e-4, 1e-3, log=True),
        "g_rate": FloatParam(1e-4, 2e-3, log=True),
        "cl_rate": FloatParam(1e-3, 0.1, log=True),
        "cl_tau": Categorical((0.3, 0.5)),
        "real_data_tau": Categorical((0.002, 0.005, 0.02)),
        # down to 0: on the shipped TikTok features, dropping the feature terms or the generated
        # graphs raised validation Recall@20 (docs/mmssl.md, "Where the gap comes from")
        "model_cat_rate": FloatParam(0.0, 0.8),
        "id_cat_rate": FloatParam(0.0, 0.5),
        "m_topk_rate": FloatParam(1e-4, 2e-2, log=True),
    }

    def __init__(self, view: TrainView, config: MMSSLConfig) -> None:
        super().__init__(view, config)
        self.modalities = view.modalities
        dim = config.embedding_dim
        self.user_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(view.n_users, dim)))
        self.item_embedding = nn.Parameter(nn.init.xavier_uniform_(torch.empty(view.n_items, dim)))
        self.projections = nn.ModuleDict()
        for modality in self.modalities:
            features = view.features[modality]
            self.register_buffer(f"features_{modality}", torch.from_numpy(np.ascontiguousarray(features)), persistent=False)
            projection = nn.Linear(features.shape[1], dim)
            nn.init.xavier_uniform_(projection.weight)
            self.projections[modality] = projection
        self.feature_dropout = nn.Dropout(config.feat_dropout)
        self.fusion = ModalityFusion(dim, config.attention_heads, config.fusion)
        train = view.train.tocsr()
        train.sort_indices()
        self.register_buffer("train_indptr", torch.from_numpy(train.indptr.astype(np.int64)), persistent=False)
        self.register_buffer("train_indices", torch.from_numpy(train.indices.astype(np.int64)), persistent=False)
        coo = train.tocoo()
        self._train_pairs = (coo.row.astype(np.int64), coo.col.astype(np.int64))
        self._interaction_ops: BipartiteOperators | None = None
        rate_k = int(np.floor(view.n_items * config.m_topk_rate))
        self.topk = rate_k if config.graph_schedule == "official" else max(1, rate_k)
        self.graphs = {
            m: GeneratedGraph(
                train, self.topk, config.graph_schedule, config.topk_pairing, config.rebuild_every, config.graph_norm
            )
            for m in self.modalities
        }
        self.discriminator: Discriminator | None = None
        self.d_optimizer: torch.optim.Optimizer | None = None
        if config.adversarial_task == "wgan":
            self.discriminator = Discriminator(
                view.n_items, config.d_dropout1, config.d_dropout2, config.d_negative_slope,
                bounded=config.critic_output == "sigmoid100",
            )
            self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=config.d_lr, betas=(0.5, 0.9))
        self.batch_index = 0

    @classmethod
    def ablation_variants(cls, modalities: tuple[str, ...]) -> dict[str, AblationVariant]:
        """The paper's ablations (its section 5.2) plus one variant per modality removed."""
        return {
            "w/o-ASL": AblationVariant({"adversarial_task": "none"}),
            "w/o-CL": AblationVariant({"cl_rate": "0"}),
            "w/o-GT": AblationVariant({"real_rows": "binary"}),
            "r/p-GAE": AblationVariant({"adversarial_task": "gae"}),
            **modality_removal_variants(modalities),
        }

    def optimised_parameters(self) -> Iterator[nn.Parameter]:
        """Everything but the critic, which has its own optimiser."""
        critic = set(map(id, self.discriminator.parameters())) if self.discriminator is not None else set()
        return (p for p in self.parameters() if id(p) not in critic)

    def on_epoch_start(self, epoch: int) -> None:
        self.batch_index = 0

    # ----- forward -------------------------------------------------------------------------

    def _interactions(self) -> BipartiteOperators:
        like = self.user_embedding
        current = self._interaction_ops
        if current is None or current.user_item.device != like.device or current.user_item.dtype != like.dtype:
            users, items = self._train_pairs
            self._interaction_ops = normalised_pair_graph(
                users, items, self.n_users, self.n_items, self.config.graph_norm, like.device, like.dtype
            )
        return self._interaction_ops

    def forward_pass(self) -> Forward:
        """All embeddings of the current parameters and generated graphs (dropout if training)."""
        config = self.config
        graph = self._interactions()
        feature_users, feature_items, modality_users, modality_items = {}, {}, {}, {}
        for modality in self.modalities:
            projected = self.feature_dropout(self.projections[modality](getattr(self, f"features_{modality}")))
            feature_users[modality] = graph.to_users(projected)
            feature_items[modality] = graph.to_items(feature_users[modality])
            generated = self.graphs[modality].matrices(self.user_embedding)
            modality_users[modality] = generated.to_users(self.item_embedding)
            modality_items[modality] = generated.to_items(self.user_embedding)
        fused_users = self.fusion([modality_users[m] for m in self.modalities])
        fused_items = self.fusion([modality_items[m] for m in self.modalities])
        users = self.user_embedding + config.id_cat_rate * _norm(fused_users)
        items = self.item_embedding + config.id_cat_rate * _norm(fused_items)
        user_layers, item_layers = [users], [items]
        for layer in range(config.n_ui_layers):
            users = graph.to_users(items)
            if config.last_layer_softmax and layer == config.n_ui_layers - 1:
                users = torch.softmax(users, dim=-1)
            items = graph.to_items(users)
            if config.last_layer_softmax and layer == config.n_ui_layers - 1:
                items = torch.softmax(items, dim=-1)
            user_layers.append(users)
            item_layers.append(items)
        users = torch.stack(user_layers).mean(0)
        items = torch.stack(item_layers).mean(0)
        for modality in self.modalities:
            users = users + config.model_cat_rate * _norm(feature_users[modality])
            items = items + config.model_cat_rate * _norm(feature_items[modality])
        return Forward(users, items, feature_users, feature_items, modality_users)

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        result = self.forward_pass()
        return result.users, result.items

    # ----- relation rows ---------------------------------------------------------------------

    def _dense_rows(self) -> bool:
        return self.config.discriminator_input == "dense"

    def _generated_rows(self, result: Forward, users: torch.Tensor, entries: R.TrainEntries) -> list[Any]:
        """One block of generated relation rows per modality (the "fake" samples)."""
        build = R.dense_score_rows if self._dense_rows() else R.score_rows
        return [build(result.feature_users[m][users], result.feature_items[m], entries) for m in self.modalities]

    def _real_rows(self, result: Forward, users: torch.Tensor, entries: R.TrainEntries) -> Any:
        config = self.config
        dtype = self.user_embedding.dtype
        if config.real_rows == "binary":
            if self._dense_rows():
                return R.dense_binary_real_rows(entries, self.n_items, dtype)
            return R.binary_real_rows(entries, self.n_items, dtype)
        noise = R.gumbel_noise(len(entries.cols), entries.cols.device).to(dtype)
        if self._dense_rows():
            ui_rows = R.dense_score_rows(result.users[users], result.items, entries)
            return R.dense_gumbel_real_rows(
                ui_rows, entries, noise, config.real_data_tau, config.gumbel_scale, config.ui_pre_scale
            )
        ui_rows = R.score_rows(result.users[users], result.items, entries)
        return R.gumbel_real_rows(ui_rows, noise, config.real_data_tau, config.gumbel_scale, config.ui_pre_scale)

    def discriminator_loss(self, result: Forward, users: torch.Tensor, entries: R.TrainEntries) -> torch.Tensor:
        """Critic loss ``mean D(fake) - mean D(real) + gp_weight * GP`` on detached rows."""
        critic = self.discriminator
        fake = self._generated_rows(result, users, entries)
        real = self._real_rows(result, users, entries)
        copies = len(fake)
        alpha = torch.rand(copies * len(users), device=users.device).to(self.user_embedding.dtype)
        mix = alpha[:, None]
        if self._dense_rows():
            fake_rows, real_rows = torch.cat(fake), torch.cat([real] * copies)
            fake_score, real_score = critic(fake_rows), critic(real_rows)
            penalty = critic.gradient_penalty(mix * real_rows + (1.0 - mix) * fake_rows)
        else:
            fake_hidden, real_hidden = critic.first_layer([*fake, real]).split([copies * len(users), len(users)])
            real_hidden = torch.cat([real_hidden] * copies)
            fake_score, real_score = critic.head(fake_hidden), critic.head(real_hidden)
            penalty = critic.penalty_at(mix * real_hidden + (1.0 - mix) * fake_hidden)
        return fake_score.mean() - real_score.mean() + self.config.gp_weight * penalty

    def generator_loss(self, result: Forward, users: torch.Tensor, entries: R.TrainEntries) -> torch.Tensor:
        """``-mean D(generated rows)``, with gradients to the feature branch only."""
        critic = self.discriminator
        fake = self._generated_rows(result, users, entries)
        rows = torch.cat(fake) if self._dense_rows() else fake
        critic.requires_grad_(False)
        try:
            return -critic(rows).mean()
        finally:
            critic.requires_grad_(True)

    # ----- training ----------------------------------------------------------------------------

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        """The model's loss on a batch (the critic's step is in :meth:`train_step`)."""
        return self._model_loss(self.forward_pass(), batch, self._batch_users(batch))

    def _batch_users(self, batch: BprBatch) -> tuple[torch.Tensor, R.TrainEntries]:
        """The batch's distinct users and their training entries, shared by every step of a batch."""
        distinct = torch.unique(batch.users)
        return distinct, R.train_entries(self.train_indptr, self.train_indices, distinct)

    def _model_loss(
        self, result: Forward, batch: BprBatch, batch_users: tuple[torch.Tensor, R.TrainEntries]
    ) -> dict[str, torch.Tensor]:
        config = self.config
        ranking = regularised_bpr(result.users, result.items, batch, config.reg_weight)
        feature_sq = sum(
            result.feature_items[m].square().sum() + result.feature_users[m].square().sum() for m in self.modalities
        )
        feat_reg = config.feat_reg_weight * 0.5 * feature_sq / self.n_items
        parts = {"bpr": ranking["bpr"], "emb_reg": ranking["reg"], "feat_reg": feat_reg}
        distinct, entries = batch_users
        if config.cl_rate > 0:
            fused = result.users[distinct]
            parts["cl"] = sum(
                cross_modal_contrastive_loss(result.modality_users[m][distinct], fused, config.cl_tau)
                for m in self.modalities
            )
        if config.adversarial_task == "wgan":
            parts["adv"] = self.generator_loss(result, distinct, entries)
        elif config.adversarial_task == "gae":
            parts["gae"] = sum(
                edge_likelihood_loss(
                    result.feature_users[m][batch.users],
                    result.feature_items[m][batch.pos_items],
                    result.feature_items[m][batch.neg_items],
                )
                for m in self.modalities
            )
        weights = {"cl": config.cl_rate, "adv": config.g_rate, "gae": config.gae_rate}
        parts["loss"] = sum(weights.get(key, 1.0) * value for key, value in parts.items())
        return parts

    def train_step(self, batch: BprBatch, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """One critic step (on a no-grad forward), then one model step, then the graph update."""
        batch_users = self._batch_users(batch)
        distinct, entries = batch_users
        logged: dict[str, torch.Tensor] = {}
        if self.discriminator is not None:
            with torch.no_grad():
                reference = self.forward_pass()
            self.d_optimizer.zero_grad(set_to_none=True)
            critic_loss = self.discriminator_loss(reference, distinct, entries)
            critic_loss.backward()
            self.d_optimizer.step()
            logged["critic"] = critic_loss.detach()
        optimizer.zero_grad(set_to_none=True)
        result = self.forward_pass()
        parts = self._model_loss(result, batch, batch_users)
        parts["loss"].backward()
        optimizer.step()
        self._update_graphs(result, distinct, entries)
        self.batch_index += 1
        logged.update({key: value.detach() for key, value in parts.items()})
        return logged

    @torch.no_grad()
    def _update_graphs(self, result: Forward, users: torch.Tensor, entries: R.TrainEntries) -> None:
        """Feed each batch user's top-k generated items to the modality graphs."""
        for modality in self.modalities:
            scores = result.feature_users[modality][users] @ result.feature_items[modality].T
            scores[entries.rows, entries.cols] = 0.0  # training items are no generated edges
            topk = torch.topk(scores, self.topk, dim=1).indices
            self.graphs[modality].update(self.batch_index, users, topk)

    # ----- state -------------------------------------------------------------------------------

    def get_extra_state(self) -> dict[str, Any]:
        """Generated graphs, the batch counter and the critic's optimiser: needed to resume."""
        return {
            "graphs": {m: g.state() for m, g in self.graphs.items()},
            "batch_index": self.batch_index,
            "d_optimizer": self.d_optimizer.state_dict() if self.d_optimizer is not None else None,
        }

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        for modality, graph_state in state["graphs"].items():
            self.graphs[modality].load_state(graph_state)
        self.batch_index = int(state["batch_index"])
        if self.d_optimizer is not None and state["d_optimizer"] is not None:
            self.d_optimizer.load_state_dict(state["d_optimizer"])


class OfficialMMSSL(MMSSL):
    """MMSSL as the authors' released code behaves (each departure from the paper a config switch).

    The switches and their values are :class:`~mmssl.config.OfficialMMSSLConfig`'s.
    """

    config_class = OfficialMMSSLConfig
