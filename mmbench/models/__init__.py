"""The model plugin contract and the registry that finds plugins by name."""

from mmbench.models.base import (
    AblationVariant,
    BprBatch,
    PropagatedEmbeddingModel,
    RecModel,
    Scorer,
    register_model,
)
from mmbench.models.registry import ModelRegistry, default_registry

__all__ = [
    "AblationVariant",
    "BprBatch",
    "ModelRegistry",
    "PropagatedEmbeddingModel",
    "RecModel",
    "Scorer",
    "default_registry",
    "register_model",
]
