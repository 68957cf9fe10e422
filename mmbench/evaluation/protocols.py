"""Evaluation protocols: which seen items are excluded from ranking, and how NDCG is normalised.

Published multimodal recommenders do not all evaluate the same way, and the differences move the
numbers. A :class:`Protocol` names one convention so that a result always says which one it used:

``standard`` (the default)
    At validation, training items are masked; at test, training *and* validation items are masked.
    The ideal DCG of NDCG@K is taken over ``min(|T_u|, K)`` relevant items.

``lattice`` (the LATTICE / MMSSL code lineage)
    Only training items are masked, at validation and at test alike, so validation items stay
    rankable at test. The ideal DCG of NDCG@K is computed from the hits retrieved in the top
    ``max(Ks)``: with ``h`` such hits, ``IDCG@K = sum_{i=1..min(h, K)} 1 / log2(i + 1)``, and
    NDCG is 0 when ``h = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from mmbench.errors import ConfigError

EVAL_SPLITS = ("valid", "test")


@dataclass(frozen=True)
class Protocol:
    """One evaluation convention.

    ``mask_valid_at_test``: whether validation items are masked when evaluating the test split.
    ``ndcg_ideal``: ``"relevant"`` (ideal DCG over the user's relevant items) or ``"retrieved"``
    (ideal DCG over the hits found in the top ``max(Ks)``).
    """

    name: str
    mask_valid_at_test: bool
    ndcg_ideal: str

    def masked_splits(self, split: str) -> tuple[str, ...]:
        """Names of the splits whose items are excluded from ranking when evaluating ``split``."""
        if split not in EVAL_SPLITS:
            raise ConfigError(
                f"cannot evaluate on split {split!r}; "
                f"evaluation splits are: {', '.join(EVAL_SPLITS)}"
            )
        if split == "test" and self.mask_valid_at_test:
            return ("train", "valid")
        return ("train",)


PROTOCOLS: Mapping[str, Protocol] = MappingProxyType(
    {
        "standard": Protocol("standard", mask_valid_at_test=True, ndcg_ideal="relevant"),
        "lattice": Protocol("lattice", mask_valid_at_test=False, ndcg_ideal="retrieved"),
    }
)


def get_protocol(name: str | Protocol) -> Protocol:
    """The protocol called ``name`` (a :class:`Protocol` is returned as is).

    Raises :class:`ConfigError` listing the valid names when ``name`` is unknown.
    """
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown evaluation protocol {name!r}; valid protocols: {', '.join(sorted(PROTOCOLS))}"
        ) from None
