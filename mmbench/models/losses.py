"""Loss terms shared by the BPR-trained models."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmbench.models.base import BprBatch


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Mean of -log sigmoid(s_pos - s_neg), computed stably as softplus(s_neg - s_pos)."""
    return F.softplus(neg_scores - pos_scores).mean()


def dot_bpr_loss(users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """:func:`bpr_loss` of dot-product scores: rows of user, positive-item and negative-item
    embeddings, the ranking loss of every embedding model here."""
    return bpr_loss((users * pos).sum(-1), (users * neg).sum(-1))


def l2_penalty(*tensors: torch.Tensor) -> torch.Tensor:
    """Half the summed squared L2 norm of the tensors, divided by the batch size (first dim).

    This is the per-batch embedding regulariser of the LightGCN and LATTICE/MMSSL code lineage.
    """
    return sum(t.pow(2).sum() for t in tensors) / (2 * tensors[0].shape[0])


def regularised_bpr(
    users_all: torch.Tensor, items_all: torch.Tensor, batch: BprBatch, reg_weight: float
) -> dict[str, torch.Tensor]:
    """The two loss parts of the LightGCN/LATTICE lineage for one batch, over whole tables of user
    and item embeddings: ``bpr``, the :func:`dot_bpr_loss` of the batch's rows, and ``reg``,
    ``reg_weight`` times their :func:`l2_penalty` (the rows after propagation, as those codes
    regularise them)."""
    users = users_all[batch.users]
    pos = items_all[batch.pos_items]
    neg = items_all[batch.neg_items]
    return {"bpr": dot_bpr_loss(users, pos, neg), "reg": reg_weight * l2_penalty(users, pos, neg)}


def norm_penalty(*matrices: torch.Tensor) -> torch.Tensor:
    """The sum of the matrices' Frobenius norms (not squared), divided by the last one's row count.

    MMRec's ``EmbLoss``: the regulariser of the BM3 and FREEDOM code lineage, applied to whole
    embedding tables rather than to a batch's rows (compare :func:`l2_penalty`).
    """
    return sum(torch.linalg.matrix_norm(m) for m in matrices) / matrices[-1].shape[0]


def info_nce(view: torch.Tensor, other: torch.Tensor, temperature: float) -> torch.Tensor:
    """In-batch InfoNCE between two views of the same rows: row i of ``view`` should be closer
    (in cosine) to row i of ``other`` than to any other row of ``other``.

    Mean over rows of -log softmax_j(cos(v_i, o_j) / temperature)[i]: the contrastive loss of
    SGL, and of the multimodal models that build on it (SLMRec, MGCN, LGMRec).
    """
    logits = F.normalize(view, dim=1) @ F.normalize(other, dim=1).T / temperature
    return F.cross_entropy(logits, torch.arange(view.shape[0], device=view.device))
