"""Loss terms shared by the BPR-trained models."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Mean of -log sigmoid(s_pos - s_neg), computed stably as softplus(s_neg - s_pos)."""
    return F.softplus(neg_scores - pos_scores).mean()


def l2_penalty(*tensors: torch.Tensor) -> torch.Tensor:
    """Half the summed squared L2 norm of the tensors, divided by the batch size (first dim).

    This is the per-batch embedding regulariser of the LightGCN and LATTICE/MMSSL code lineage.
    """
    return sum(t.pow(2).sum() for t in tensors) / (2 * tensors[0].shape[0])
