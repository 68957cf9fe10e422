"""Batched full-ranking evaluation of a scorer against one split of a :class:`Dataset`.

Users are scored in batches; each batch's already-seen items (per the protocol) are set to
``-inf`` by index, the top ``max(Ks)`` items are retrieved with ``torch.topk``, and the hit matrix
is looked up in a per-batch dense relevance mask, all in torch on the evaluation device. Only the
small ``[users, max(Ks)]`` hit matrix (on CPU, as numpy) and per-item exposure counts outlive a
batch, so no ``n_users x n_items`` matrix is ever built.

Tie rule: items with equal scores are ranked by ascending item id, which is what the LATTICE
lineage's ``heapq.nlargest`` over an ascending dict of item ids does. It is made exact cheaply:
``max(Ks) + 1`` items are retrieved, and only rows whose retrieved scores contain two equal
neighbours (including the boundary between rank ``max(Ks)`` and ``max(Ks) + 1``) are re-ranked
with a stable descending sort. Rows without such a tie have a unique top ``max(Ks)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError, DataError, MMBenchError, TrainingError
from mmbench.config import DEFAULT_KS
from mmbench.evaluation.metrics import METRICS, CatalogueMetric, PerUserMetric
from mmbench.evaluation.protocols import Protocol, get_protocol

Scorer = Callable[[torch.Tensor], torch.Tensor]

_FINITE_CHECK_ELEMENTS = 1 << 24  # elements of a score matrix checked for NaN/Inf at a time


@dataclass(frozen=True)
class EvalResult:
    """Metrics of one evaluation run.

    ``metrics`` maps keys such as ``"recall@20"`` or ``"gini@50"`` to floats; per-user metrics are
    plain means over the evaluated users. ``users`` are the evaluated user ids (those with at least
    one item in the split), ascending; ``per_user`` holds, for every per-user metric key, a float64
    vector aligned with ``users``. ``seconds`` is the wall-clock time of the evaluation.
    """

    split: str
    protocol: str
    ks: tuple[int, ...]
    metrics: dict[str, float]
    users: np.ndarray
    per_user: dict[str, np.ndarray]
    seconds: float


@dataclass(frozen=True)
class _Rows:
    """The nonzeros of a 0/1 CSR matrix as (row, column) int64 tensors, with the row pointers."""

    indptr: np.ndarray
    rows: torch.Tensor
    columns: torch.Tensor

    @classmethod
    def from_csr(cls, matrix: sp.csr_matrix) -> _Rows:
        rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
        return cls(
            matrix.indptr.astype(np.int64),
            torch.from_numpy(rows),
            torch.from_numpy(matrix.indices.astype(np.int64)),
        )

    def to(self, device: torch.device) -> _Rows:
        """The same nonzeros with their coordinates on ``device`` (the row pointers stay numpy)."""
        return _Rows(self.indptr, self.rows.to(device), self.columns.to(device))

    def coordinates(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(row, column) of the nonzeros of rows ``start:stop``, rows counted from ``start``, on
        the device of this copy."""
        low, high = self.indptr[start], self.indptr[stop]
        return self.rows[low:high] - start, self.columns[low:high]


def _binary(matrix: sp.spmatrix) -> sp.csr_matrix:
    """A canonical CSR copy of ``matrix`` without duplicates or explicit zeros."""
    binary = sp.csr_matrix(matrix, copy=True)
    binary.sum_duplicates()
    binary.eliminate_zeros()
    return binary


def validate_ks(ks: Sequence[int], n_items: int) -> tuple[int, ...]:
    """``ks`` sorted and distinct; :class:`ConfigError` unless they are positive and at most ``n_items``."""
    try:
        values = sorted({int(k) for k in ks})
        well_formed = all(int(k) == k for k in ks)
    except (TypeError, ValueError):
        values, well_formed = [], False
    if not values or not well_formed or values[0] < 1:
        raise ConfigError(f"ks must be a non-empty list of positive integers, got {ks!r}")
    if values[-1] > n_items:
        raise ConfigError(
            f"cut-off K={values[-1]} is larger than the catalogue ({n_items} items); give smaller "
            "cut-offs with --ks (for example --ks 5,10)"
        )
    return tuple(values)


def _top_k(scores: torch.Tensor, max_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores and item ids of the top ``max_k`` items per row, ties ranked by ascending item id."""
    depth = min(max_k + 1, scores.shape[1])
    values, items = torch.topk(scores, depth, dim=1, largest=True, sorted=True)
    tied = (values[:, 1:] == values[:, :-1]).any(dim=1).nonzero().squeeze(1)
    if tied.numel():
        # A stable descending sort keeps equal scores in ascending item order.
        tied_values, tied_items = torch.sort(scores[tied], dim=1, descending=True, stable=True)
        values[tied] = tied_values[:, :depth]
        items[tied] = tied_items[:, :depth]
    return values[:, :max_k], items[:, :max_k]


class Evaluator:
    """Full-ranking evaluator of one split of a dataset under one protocol.

    The masks (training items, plus validation items at test under ``standard``) and the relevant
    items are prepared once here, restricted to the evaluated users, so that :meth:`evaluate` can
    be called every epoch cheaply.
    """

    def __init__(
        self,
        dataset: Dataset,
        split: str,
        protocol: str | Protocol = "standard",
        ks: Sequence[int] = DEFAULT_KS,
        batch_size: int = 2048,
    ) -> None:
        self.protocol = get_protocol(protocol)
        masked_splits = self.protocol.masked_splits(split)
        self.split = split
        self.ks = validate_ks(ks, dataset.n_items)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = batch_size
        self.n_users = dataset.n_users
        self.n_items = dataset.n_items

        relevant = _binary(dataset.split(split))
        users = np.flatnonzero(np.diff(relevant.indptr) > 0).astype(np.int64)
        if users.size == 0:
            raise DataError(
                f"split {split!r} of dataset {dataset.name!r} is empty: no user has an item in it, "
                "so there is nothing to evaluate; check the split labels of the interaction file"
            )
        self._users = torch.from_numpy(users)
        users.flags.writeable = False  # shared with every EvalResult, so read-only
        self.users = users
        relevant = relevant[users]
        self._relevant = _Rows.from_csr(relevant)
        self._n_relevant = np.diff(relevant.indptr).astype(np.int64)
        mask = dataset.split(masked_splits[0])
        for name in masked_splits[1:]:
            mask = mask + dataset.split(name)
        self._mask = _Rows.from_csr(_binary(mask)[users])
        self._device_copies: dict[torch.device, tuple[torch.Tensor, _Rows, _Rows]] = {}

    def evaluate(self, scorer: Scorer, device: torch.device | str = "cpu") -> EvalResult:
        """Rank every catalogue item for every evaluated user and compute all registered metrics.

        ``scorer(users)`` receives an int64 tensor of user ids on ``device`` and must return float
        scores of shape ``[len(users), n_items]``. It is called under ``torch.no_grad()``. The
        returned tensor must be writable: its already-seen entries are set to ``-inf`` in place
        while ranking and restored afterwards. Non-finite scores raise :class:`TrainingError` (a
        diverged model is the usual cause).
        """
        started = time.perf_counter()
        device = torch.device(device)
        per_user_metrics = [m for m in METRICS.values() if isinstance(m, PerUserMetric)]
        catalogue_metrics = [m for m in METRICS.values() if isinstance(m, CatalogueMetric)]
        hit_parts: list[np.ndarray] = []
        exposure = {k: np.zeros(self.n_items, dtype=np.int64) for k in self.ks}

        all_users, mask, relevant_rows = self._on(device)
        for start in range(0, len(self.users), self.batch_size):
            stop = min(start + self.batch_size, len(self.users))
            users = all_users[start:stop]
            with torch.no_grad():
                scores = self._checked(scorer(users), users, device)
            with torch.inference_mode():
                top_values, top_items = self._masked_top_k(scores, mask.coordinates(start, stop))
                relevant = torch.zeros(scores.shape, dtype=torch.bool, device=device)
                relevant[relevant_rows.coordinates(start, stop)] = True
                batch_hits = relevant.gather(1, top_items).cpu().numpy()
            # Masked items (-inf) only fill the lists of users with fewer than max(Ks) candidates.
            rankable = top_values.cpu().numpy() != -np.inf
            top_items = top_items.cpu().numpy()
            hit_parts.append(batch_hits & rankable)
            for k in self.ks:
                exposure[k] += np.bincount(
                    top_items[:, :k][rankable[:, :k]], minlength=self.n_items
                )

        hits = np.concatenate(hit_parts)
        per_user = {
            f"{metric.name}@{k}": metric(hits, self._n_relevant, k, self.protocol)
            for metric in per_user_metrics
            for k in self.ks
        }
        metrics = {key: float(vector.mean()) for key, vector in per_user.items()}
        for metric in catalogue_metrics:
            for k in self.ks:
                metrics[f"{metric.name}@{k}"] = metric(exposure[k])
        return EvalResult(
            split=self.split,
            protocol=self.protocol.name,
            ks=self.ks,
            metrics=metrics,
            users=self.users,
            per_user=per_user,
            seconds=time.perf_counter() - started,
        )

    def _checked(self, scores: object, users: torch.Tensor, device: torch.device) -> torch.Tensor:
        """``scores`` as a float tensor on ``device``, after checking shape, dtype and values."""
        expected = (len(users), self.n_items)
        if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != expected:
            got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
            raise MMBenchError(
                f"scorer returned {got} for a batch of {len(users)} users; it must return a float "
                f"tensor of shape {expected} (one row per user, one column per item)"
            )
        if not scores.is_floating_point():
            raise MMBenchError(
                f"scorer returned scores of dtype {scores.dtype}; return floating-point scores"
            )
        scores = scores.detach().to(device)
        if not scores.is_contiguous():  # e.g. an expanded tensor, which cannot be masked in place
            scores = scores.contiguous()
        # amax/amin propagate NaN, and are much cheaper than a full isfinite mask.
        finite = torch.isfinite(scores.amax(dim=1)) & torch.isfinite(scores.amin(dim=1))
        if not bool(finite.all()):
            bad = users[~finite].cpu()
            shown = ", ".join(str(int(u)) for u in bad[:5]) + (", ..." if len(bad) > 5 else "")
            raise TrainingError(
                f"scorer returned NaN or infinite scores for {len(bad)} of {len(users)} users "
                f"in a batch (user ids {shown}); the model has probably diverged: lower the "
                "learning rate or check its inputs"
            )
        return scores

    def _on(self, device: torch.device) -> tuple[torch.Tensor, _Rows, _Rows]:
        """The evaluated users, the mask and the relevant items on ``device``: uploaded at the first
        evaluation there and kept, so that later passes (one per epoch) copy nothing."""
        if device not in self._device_copies:
            self._device_copies[device] = (
                self._users.to(device), self._mask.to(device), self._relevant.to(device)
            )
        return self._device_copies[device]

    def _masked_top_k(
        self, scores: torch.Tensor, masked: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Top ``max(Ks)`` of a batch with its masked items set to ``-inf``.

        The masked entries are overwritten in place and restored afterwards, which saves copying the
        whole ``[batch, n_items]`` block; the caller's tensor is unchanged when this returns.
        """
        rows, columns = masked
        saved = scores[rows, columns]
        scores[rows, columns] = float("-inf")
        try:
            return _top_k(scores, self.ks[-1])
        finally:
            scores[rows, columns] = saved


def _scores_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a score block is ranked in: float32/float64 as is, other real types as float64."""
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _validate_score_matrix(scores: np.ndarray, dataset: Dataset) -> None:
    """Raise :class:`DataError` unless ``scores`` is a finite real (n_users, n_items) matrix."""
    fix = "save a float matrix of shape (n_users, n_items) with row u = user u"
    if scores.shape != (dataset.n_users, dataset.n_items):
        raise DataError(
            f"scores have shape {scores.shape} but dataset {dataset.name!r} has "
            f"{dataset.n_users} users x {dataset.n_items} items; {fix}"
        )
    if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(
        scores.dtype, np.complexfloating
    ):
        raise DataError(f"scores have dtype {scores.dtype}, which is not a real number type; {fix}")
    if not np.issubdtype(scores.dtype, np.floating):
        return
    rows_per_chunk = max(1, _FINITE_CHECK_ELEMENTS // max(1, dataset.n_items))
    bad_rows = [
        start + np.flatnonzero(~np.isfinite(scores[start : start + rows_per_chunk]).all(axis=1))
        for start in range(0, dataset.n_users, rows_per_chunk)
    ]
    bad = np.concatenate(bad_rows)
    if bad.size:
        shown = ", ".join(str(u) for u in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise DataError(
            f"scores contain NaN or infinite values in {bad.size} rows (users {shown}); replace "
            "them with finite numbers (for example np.nan_to_num) before evaluating"
        )


def evaluate_score_matrix(
    scores: np.ndarray,
    dataset: Dataset,
    split: str = "test",
    protocol: str | Protocol = "standard",
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 2048,
) -> EvalResult:
    """Evaluate a precomputed score matrix (row u = user u), for example a ``np.load`` mmap.

    The matrix is checked first (shape, real dtype, finite values; :class:`DataError` otherwise)
    and then read one batch of rows at a time, so a memory-mapped file is never loaded whole.
    """
    scores = np.asarray(scores)
    _validate_score_matrix(scores, dataset)
    dtype = _scores_dtype(scores.dtype)

    def scorer(users: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(scores[users.cpu().numpy()], dtype=dtype))

    return Evaluator(dataset, split, protocol, ks, batch_size).evaluate(scorer)
