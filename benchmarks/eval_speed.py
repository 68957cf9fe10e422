"""How fast the batched :class:`Evaluator` ranks all TikTok users, against a per-user reference.

The reference is the straightforward loop of the LATTICE code lineage: for each test user, a dict
of item -> score over the items not seen in training, ``heapq.nlargest`` for the top ``max(Ks)``,
then recall, NDCG (ideal DCG from the retrieved hits), precision and hit rate. Both rank the same
deterministic score matrix (dot products of seeded random 64-d embeddings) under the ``lattice``
protocol; the script checks that they agree to 1e-6 and prints the median wall-clock time of each.
The data come from ``mmbench.data.loading.load_dataset("tiktok")``.

    python benchmarks/eval_speed.py [--repeats 5] [--reference-repeats 3] [--datasets-root datasets]
"""

from __future__ import annotations

import argparse
import heapq
import math
import statistics
import time
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np
import torch

from mmbench.data.dataset import Dataset
from mmbench.data.loading import load_dataset
from mmbench.evaluation.evaluator import Evaluator

KS = (10, 20, 50)
T = TypeVar("T")


def make_scores(n_users: int, n_items: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Deterministic float32 scores: dot products of seeded random user and item embeddings."""
    rng = np.random.default_rng(seed)
    users = rng.standard_normal((n_users, dim), dtype=np.float32)
    items = rng.standard_normal((n_items, dim), dtype=np.float32)
    return users @ items.T


def reference_lattice(scores: np.ndarray, dataset: Dataset, ks: Sequence[int]) -> dict[str, float]:
    """Mean recall/NDCG/precision/hit@K over test users, one user at a time, LATTICE style."""
    max_k = max(ks)
    train, test = dataset.train, dataset.test
    sums = {f"{name}@{k}": 0.0 for name in ("recall", "ndcg", "precision", "hit") for k in ks}
    n_evaluated = 0
    for u in range(dataset.n_users):
        test_items = set(test.indices[test.indptr[u] : test.indptr[u + 1]].tolist())
        if not test_items:
            continue
        n_evaluated += 1
        seen = set(train.indices[train.indptr[u] : train.indptr[u + 1]].tolist())
        rating = scores[u].tolist()
        item_score = {i: rating[i] for i in range(dataset.n_items) if i not in seen}
        ranked = heapq.nlargest(max_k, item_score, key=item_score.get)
        r = [1 if i in test_items else 0 for i in ranked]
        ideal = sorted(r, reverse=True)
        for k in ks:
            dcg = sum(h / math.log2(i + 2) for i, h in enumerate(r[:k]))
            idcg = sum(h / math.log2(i + 2) for i, h in enumerate(ideal[:k]))
            sums[f"recall@{k}"] += sum(r[:k]) / len(test_items)
            sums[f"ndcg@{k}"] += dcg / idcg if idcg else 0.0
            sums[f"precision@{k}"] += sum(r[:k]) / k
            sums[f"hit@{k}"] += 1.0 if sum(r[:k]) > 0 else 0.0
    return {key: total / n_evaluated for key, total in sums.items()}


def timed(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Median wall-clock seconds of ``repeats`` calls of ``fn``, and the last call's result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs of the batched evaluator"
    )
    parser.add_argument(
        "--reference-repeats", type=int, default=3, help="timed runs of the per-user reference"
    )
    parser.add_argument(
        "--datasets-root", type=Path, default=None, help="catalogue folder (default: datasets/)"
    )
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: leave torch alone)",
    )
    args = parser.parse_args(argv)
    if min(args.repeats, args.reference_repeats) < 1:
        parser.error("--repeats and --reference-repeats must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    dataset = load_dataset("tiktok", args.datasets_root, warn=False)
    scores = make_scores(dataset.n_users, dataset.n_items)
    score_tensor = torch.from_numpy(scores)
    evaluator = Evaluator(dataset, "test", "lattice", KS, batch_size=args.batch_size)
    print(
        f"TikTok: {dataset.n_users} users x {dataset.n_items} items, "
        f"{len(evaluator.users)} test users; "
        f"lattice protocol, ks={KS}, torch threads={torch.get_num_threads()}"
    )

    ours_s, ours = timed(
        lambda: evaluator.evaluate(lambda users: score_tensor.index_select(0, users)), args.repeats
    )
    reference_s, reference = timed(
        lambda: reference_lattice(scores, dataset, KS), args.reference_repeats
    )

    differences = {key: abs(ours.metrics[key] - value) for key, value in reference.items()}
    disagreeing = {key: diff for key, diff in differences.items() if diff > 1e-6}
    if disagreeing:
        raise AssertionError(f"evaluator and reference disagree by more than 1e-6: {disagreeing}")
    print(f"metrics agree to 1e-6 (max difference {max(differences.values()):.1e}):")
    print("  " + ", ".join(f"{key}={reference[key]:.6f}" for key in sorted(reference)))
    print(
        f"ours      (Evaluator.evaluate, batch {args.batch_size}): "
        f"median {ours_s:.3f} s over {args.repeats} runs"
    )
    print(
        f"reference (per-user heapq loop): "
        f"median {reference_s:.3f} s over {args.reference_repeats} runs"
    )
    print(f"speed-up: {reference_s / ours_s:.1f}x")


if __name__ == "__main__":
    main()
