"""Ranking metrics, kept in a registry so that adding one is writing one decorated function.

Two kinds of metric exist:

* **per-user** metrics (:func:`_per_user`) map a boolean hit matrix ``hits`` of shape
  ``[n_users, max(Ks)]`` (``hits[u, r]``: the item at rank ``r + 1`` is relevant to user ``u``),
  the number of relevant items ``n_relevant`` (``|T_u|``), a cut-off ``k`` and the
  :class:`~mmbench.evaluation.protocols.Protocol` to one float64 value per user. ``hits`` always
  has ``max(Ks)`` columns, because the ``lattice`` NDCG looks past ``k``.
* **catalogue** metrics (:func:`_catalogue`) map the exposure counts of every catalogue item over
  the top-K lists of all evaluated users to one float. The evaluator accumulates those counts batch
  by batch, so no top-K list is ever stored.

Both work on small CPU numpy arrays: the ranking itself runs in torch on the evaluation device, but
the hit matrix is only ``max(Ks)`` wide, and on it numpy avoids torch's per-operation thread
fork/join, which dominated the metric time on a busy two-core machine.

To add a metric, write a function in this module under one of the two decorators: the registry
:data:`METRICS` is collected from the module's namespace at import time and is read-only after.
Metric keys are written ``name@K`` (``recall@20``); see :func:`parse_metric_key`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from mmbench.errors import ConfigError
from mmbench.evaluation.protocols import Protocol

PerUserFn = Callable[[np.ndarray, np.ndarray, int, Protocol], np.ndarray]
CatalogueFn = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class PerUserMetric:
    """A metric with one value per user, computed from that user's hit list (higher is better)."""

    name: str
    fn: PerUserFn
    higher_is_better: bool = True

    def __call__(
        self, hits: np.ndarray, n_relevant: np.ndarray, k: int, protocol: Protocol
    ) -> np.ndarray:
        return self.fn(hits, n_relevant, k, protocol)


@dataclass(frozen=True)
class CatalogueMetric:
    """A metric of the whole catalogue, from per-item exposure counts in the top-K lists.

    ``higher_is_better`` is False for concentration measures (Gini), where a leaderboard's best
    value is the lowest.
    """

    name: str
    fn: CatalogueFn
    higher_is_better: bool = True

    def __call__(self, counts: np.ndarray) -> float:
        return self.fn(counts)


def _per_user(name: str) -> Callable[[PerUserFn], PerUserMetric]:
    """Declare a per-user metric called ``name``."""
    return lambda fn: PerUserMetric(name, fn)


def _catalogue(name: str, higher_is_better: bool = True) -> Callable[[CatalogueFn], CatalogueMetric]:
    """Declare a catalogue metric called ``name``."""
    return lambda fn: CatalogueMetric(name, fn, higher_is_better)


def _discounts(n: int) -> np.ndarray:
    """Position discounts ``1 / log2(r + 1)`` for ranks ``r = 1..n``."""
    return 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))


def _gains(hits: np.ndarray, k: int) -> np.ndarray:
    """The top-K hits as float64 gains."""
    return hits[:, :k].astype(np.float64)


def _hit_counts(hits: np.ndarray, k: int) -> np.ndarray:
    return np.count_nonzero(hits[:, :k], axis=1)


@_per_user("recall")
def recall(hits: np.ndarray, n_relevant: np.ndarray, k: int, protocol: Protocol) -> np.ndarray:
    """Hits in the top K divided by the number of relevant items ``|T_u|``."""
    return _hit_counts(hits, k) / np.maximum(n_relevant, 1).astype(np.float64)


@_per_user("precision")
def precision(hits: np.ndarray, n_relevant: np.ndarray, k: int, protocol: Protocol) -> np.ndarray:
    """Hits in the top K divided by K."""
    return _hit_counts(hits, k) / float(k)


@_per_user("hit")
def hit(hits: np.ndarray, n_relevant: np.ndarray, k: int, protocol: Protocol) -> np.ndarray:
    """1 when at least one relevant item is in the top K, else 0."""
    return hits[:, :k].any(axis=1).astype(np.float64)


@_per_user("ndcg")
def ndcg(hits: np.ndarray, n_relevant: np.ndarray, k: int, protocol: Protocol) -> np.ndarray:
    """Binary-gain NDCG@K, with ``DCG = sum_r hit_r / log2(r + 1)`` over the top K.

    The ideal DCG depends on the protocol: over ``min(|T_u|, K)`` relevant items
    (``ndcg_ideal="relevant"``), or over ``min(h, K)`` items where ``h`` is the number of hits in
    the top ``max(Ks)`` (``ndcg_ideal="retrieved"``, the LATTICE lineage; 0 when ``h = 0``).
    """
    discounts = _discounts(hits.shape[1])
    dcg = _gains(hits, k) @ discounts[:k]
    if protocol.ndcg_ideal == "relevant":
        n_ideal = np.minimum(n_relevant, k)
    elif protocol.ndcg_ideal == "retrieved":
        n_ideal = np.minimum(_hit_counts(hits, hits.shape[1]), k)
    else:
        raise ConfigError(
            f"protocol {protocol.name!r} has ndcg_ideal={protocol.ndcg_ideal!r}; "
            "expected 'relevant' or 'retrieved'"
        )
    ideal_prefix = np.concatenate([[0.0], np.cumsum(discounts)])
    idcg = ideal_prefix[n_ideal]
    return np.divide(dcg, idcg, out=np.zeros_like(dcg), where=n_ideal > 0)


@_per_user("map")
def map_(hits: np.ndarray, n_relevant: np.ndarray, k: int, protocol: Protocol) -> np.ndarray:
    """MAP@K: ``(1 / min(|T_u|, K)) * sum_{r <= K} precision@r * hit_r``.

    The same under every protocol: neither protocol family defines it differently.
    """
    top = _gains(hits, k)
    precision_at_r = np.cumsum(top, axis=1) / np.arange(1, top.shape[1] + 1)
    denominator = np.clip(n_relevant, 1, k).astype(np.float64)
    return (precision_at_r * top).sum(axis=1) / denominator


@_per_user("mrr")
def mrr(hits: np.ndarray, n_relevant: np.ndarray, k: int, protocol: Protocol) -> np.ndarray:
    """Reciprocal rank of the first hit within the top K, or 0 when there is none."""
    top = hits[:, :k]
    first = np.argmax(top, axis=1)  # argmax returns the first maximal index
    return np.where(top.any(axis=1), 1.0 / (first + 1), 0.0)


@_catalogue("coverage")
def coverage(counts: np.ndarray) -> float:
    """Fraction of the catalogue that appears in at least one evaluated user's top K."""
    return float(np.count_nonzero(counts)) / counts.size


@_catalogue("gini", higher_is_better=False)
def gini(counts: np.ndarray) -> float:
    """Gini coefficient of item exposure in the top-K lists, over all catalogue items.

    0 when every item is shown equally often, approaching 1 when exposure concentrates on a few
    items; items never shown count with exposure 0. With ``x`` sorted ascending,
    ``G = sum_i (2i - n - 1) x_i / (n * sum x)``. Defined as 0 when nothing was shown at all.
    """
    x = np.sort(counts.astype(np.float64))
    n = x.size
    total = x.sum()
    if total == 0:
        return 0.0
    coefficients = 2.0 * np.arange(1, n + 1) - n - 1
    return float((coefficients * x).sum() / (n * total))


def _registered(namespace: Mapping[str, object]) -> Mapping[str, PerUserMetric | CatalogueMetric]:
    """The metrics declared in ``namespace``, sorted by name, as a read-only mapping."""
    found = [v for v in namespace.values() if isinstance(v, (PerUserMetric, CatalogueMetric))]
    by_name = {metric.name: metric for metric in sorted(found, key=lambda m: m.name)}
    if len(by_name) != len(found):
        raise RuntimeError("two metrics in mmbench.evaluation.metrics share a name")
    return MappingProxyType(by_name)


METRICS = _registered(dict(globals()))

_KEY = re.compile(r"([a-z_][a-z0-9_]*)@(\d+)")


def metric_names() -> tuple[str, ...]:
    """Names of every registered metric, sorted."""
    return tuple(METRICS)


def _valid_metrics_hint() -> str:
    return f"valid metrics: {', '.join(metric_names())} (as name@K, e.g. recall@20)"


def parse_metric_key(key: str) -> tuple[str, int]:
    """Split a key such as ``"recall@20"`` into ``("recall", 20)``.

    Raises :class:`ConfigError` listing the valid metric names when the name is unknown or the key
    is not of the form ``name@K`` with a positive integer K.
    """
    text = key.strip().lower() if isinstance(key, str) else ""
    match = _KEY.fullmatch(text)
    if match is None or int(match.group(2)) < 1:
        raise ConfigError(
            f"malformed metric key {key!r}; write name@K with a positive integer K; "
            f"{_valid_metrics_hint()}"
        )
    name, k = match.group(1), int(match.group(2))
    if name not in METRICS:
        raise ConfigError(f"unknown metric {key!r}; {_valid_metrics_hint()}")
    return name, k


def higher_is_better(key: str) -> bool:
    """Whether a larger value of the metric ``name@K`` is the better one."""
    name, _ = parse_metric_key(key)
    return METRICS[name].higher_is_better
