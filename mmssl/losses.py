"""MMSSL's self-supervised loss terms (the adversarial ones live with the discriminator)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_modal_contrastive_loss(anchor: torch.Tensor, fused: torch.Tensor, tau: float) -> torch.Tensor:
    """InfoNCE of a modality's user view against the fused user view, as the official code has it.

    For user b: positive s(z1_b, z2_b); negatives are the other users in both views,
    ``sum_j exp(s(z1_b, z1_j)/tau) + sum_j exp(s(z1_b, z2_j)/tau) - exp(s(z1_b, z1_b)/tau)``;
    s is the cosine similarity. One direction (the modality view is the anchor), users only.
    """
    z1 = F.normalize(anchor, dim=1)
    z2 = F.normalize(fused, dim=1)
    within = torch.exp(z1 @ z1.T / tau)
    between = torch.exp(z1 @ z2.T / tau)
    denominator = within.sum(1) + between.sum(1) - within.diagonal()
    return -torch.log(between.diagonal() / denominator + 1e-8).mean()


def edge_likelihood_loss(
    user_features: torch.Tensor, pos_features: torch.Tensor, neg_features: torch.Tensor
) -> torch.Tensor:
    """r/p-GAE's task: binary cross-entropy of observed edges against sampled non-edges."""
    pos = (user_features * pos_features).sum(-1)
    neg = (user_features * neg_features).sum(-1)
    return (F.softplus(-pos) + F.softplus(neg)).mean()
