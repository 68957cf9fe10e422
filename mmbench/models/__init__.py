"""The model plugin contract and the registry that finds plugins by name.

The names below load on first use (PEP 562), so that importing :mod:`mmbench.models.registry`
to list or check model names does not import torch.
"""

from __future__ import annotations

from mmbench.lazy import lazy_getattr

_EXPORTS = {
    "AblationVariant": "mmbench.models.base",
    "BprBatch": "mmbench.models.base",
    "PropagatedEmbeddingModel": "mmbench.models.base",
    "RecModel": "mmbench.models.base",
    "Scorer": "mmbench.models.base",
    "check_contract": "mmbench.models.base",
    "ModelRegistry": "mmbench.models.registry",
    "default_registry": "mmbench.models.registry",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
