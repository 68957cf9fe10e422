"""MMSSL training speed: the factored critic input against the dense reference, same batches.

Both paths are the same model class (``mmssl``, TikTok preset), differing only in
``discriminator_input``: ``dense`` materialises every relation row (n_items floats) before the
critic's first layer, as a straightforward implementation does; ``factored`` computes that layer
from the rows' low-rank-plus-sparse form (:mod:`mmssl.discriminator`). The script

1. runs one batch through each path from the same state, in float64, and checks that every loss
   part and every gradient (model and critic) agree to a relative 1e-4 (they agree to about
   1e-12: the paths compute the same function). In float32 they differ by rounding only; the
   script prints the largest float32 difference too;
2. times ``--repeats`` passes over the same ``--batches`` batches per path, alternating paths,
   each pass from a fresh model with the same seed, and prints the median time of a pass, the
   time of a full TikTok epoch it implies (59 batches of 1024 users) and the ratio.

    python benchmarks/mmssl_discriminator_speed.py --threads 2 --batches 5 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from mmbench.data.loading import load_dataset
from mmbench.models.base import BprBatch
from mmbench.models.registry import default_registry
from mmbench.training.sampler import BprSampler
from mmbench.training.trainer import build_optimizer

PATHS = ("dense", "factored")


def make_batches(dataset, batch_size: int, count: int, sampling: str) -> tuple[list[BprBatch], int]:
    sampler = BprSampler(dataset.train, batch_size, np.random.default_rng(0), sampling)
    batches = []
    for _, (users, pos, neg) in zip(range(count), sampler.epoch()):
        batches.append(BprBatch(*(torch.from_numpy(a) for a in (users, pos, neg))))
    return batches, len(sampler)


def fresh_model(cls, dataset, path: str, seed: int):
    config = cls.config_for(dataset.name, {"discriminator_input": path})
    torch.manual_seed(seed)
    model = cls(dataset.train_view(), config)
    return model, build_optimizer(model, config)


def one_step(
    cls, dataset, path: str, batch: BprBatch, dtype: torch.dtype
) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    model, optimizer = fresh_model(cls, dataset, path, seed=0)
    model.to(dtype)
    torch.manual_seed(1)
    parts = model.train_step(batch, optimizer)
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return parts, grads


def largest_difference(cls, dataset, batch: BprBatch, dtype: torch.dtype) -> float:
    """The largest relative difference between the paths over loss parts and gradients."""
    (dense_parts, dense_grads), (fast_parts, fast_grads) = (
        one_step(cls, dataset, p, batch, dtype) for p in PATHS
    )
    worst = 0.0
    for key, value in dense_parts.items():
        worst = max(worst, abs(fast_parts[key] - value) / max(abs(value), 1e-12))
    for name, grad in dense_grads.items():
        worst = max(worst, float((fast_grads[name] - grad).norm() / grad.norm().clamp_min(1e-12)))
    return worst


def timed_pass(cls, dataset, path: str, batches: list[BprBatch]) -> float:
    model, optimizer = fresh_model(cls, dataset, path, seed=0)
    started = time.perf_counter()
    for batch in batches:
        model.train_step(batch, optimizer)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="tiktok")
    parser.add_argument("--model", default="mmssl", choices=("mmssl", "mmssl-official"))
    parser.add_argument("--batches", type=int, default=5, help="batches per timed pass (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per path (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset, warn=False)
    cls = default_registry().get(args.model)
    config = cls.config_for(dataset.name)
    batches, per_epoch = make_batches(dataset, config.batch_size, args.batches, config.sampling)
    exact = largest_difference(cls, dataset, batches[0], torch.float64)
    if exact > 1e-4:
        raise SystemExit(f"paths disagree in float64: largest relative difference {exact:.2e} > 1e-4")
    rounding = largest_difference(cls, dataset, batches[0], torch.float32)
    print(
        f"{args.model} on {dataset.name}: losses and gradients agree; largest relative difference "
        f"{exact:.1e} in float64, {rounding:.1e} in float32 (rounding)"
    )
    times: dict[str, list[float]] = {path: [] for path in PATHS}
    for _ in range(args.repeats):
        for path in PATHS:
            times[path].append(timed_pass(cls, dataset, path, batches))
    medians = {path: statistics.median(values) for path, values in times.items()}
    for path in PATHS:
        per_batch = medians[path] / len(batches)
        print(
            f"{path:>8}: median {medians[path]:.2f} s per pass of {len(batches)} batches "
            f"({per_batch:.2f} s per batch, {per_batch * per_epoch / 60:.1f} min per {per_epoch}-batch epoch); "
            f"passes: {', '.join(f'{t:.2f}' for t in times[path])}"
        )
    print(f"speed-up factored vs dense: {medians['dense'] / medians['factored']:.2f}x "
          f"({args.threads} threads, {args.repeats} passes each)")


if __name__ == "__main__":
    main()
