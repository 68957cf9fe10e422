"""Time and peak memory of one full LATTICE training epoch on an Amazon-Elec-sized catalogue.

Builds the real ``lattice`` model (baselines/lattice.py, default config) on seeded synthetic data
of Elec's shape: 63,001 items with float32 features of 4096 (image) and 384 (text) dimensions,
about 190k users and 1.7M training interactions drawn uniformly. It then runs one training epoch
exactly as the trainer does: ``on_epoch_start(1)``, then ``train_step`` over every batch of the
shared BPR sampler, with the optimiser the trainer builds. It prints the time and the process's
peak RSS after building the model (which builds the initial kNN graphs blockwise) and after the
epoch, with progress lines during the epoch (elapsed time, peak RSS and the epoch time the rate so
far implies). No evaluation pass is run.

Synthetic data are fine for memory and time only: their neighbours and scores mean nothing.

    python benchmarks/lattice_epoch_scale.py [--items 63001] [--users 190000]
        [--interactions 1700000] [--dims 4096,384] [--progress 20] [--threads 1]

A small run: ``--items 8000 --users 20000 --interactions 200000``.

The figures of a full-size run on the development machine are in the "Scale" section of
docs/reproduction-notes-baselines.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Sequence

import numpy as np
import torch

from baselines.lattice import Lattice, LatticeConfig
from lattice_graph_scale import peak_rss_gib, report, synthetic_features, synthetic_interactions
from mmbench.data.dataset import TrainView
from mmbench.models.base import BprBatch
from mmbench.training.sampler import BprSampler
from mmbench.training.trainer import build_optimizer


def one_epoch(args: argparse.Namespace) -> None:
    """Build the model on synthetic Elec-shaped data and run one full training epoch."""
    dims = [int(part) for part in args.dims.split(",") if part.strip()]
    started = time.perf_counter()
    features = synthetic_features(args.items, dims, args.seed)
    train = synthetic_interactions(args.users, args.items, args.interactions, args.seed)
    report(f"data: {args.users:,} users, {args.items:,} items, {train.nnz:,} pairs", time.perf_counter() - started)
    config = LatticeConfig()
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    model = Lattice(TrainView(args.users, args.items, train, features), config)
    report("model built (initial kNN graphs, blockwise)", time.perf_counter() - started)
    optimizer = build_optimizer(model, config)
    sampler = BprSampler(train, config.batch_size, np.random.default_rng(args.seed))
    model.train()
    started = time.perf_counter()
    model.on_epoch_start(1)
    loss = 0.0
    n_batches = len(sampler)
    progress_every = max(1, n_batches // args.progress)
    for index, (users, pos, neg) in enumerate(sampler.epoch(), start=1):
        batch = BprBatch(*(torch.from_numpy(array) for array in (users, pos, neg)))
        loss += model.train_step(batch, optimizer)["loss"]
        if index % progress_every == 0 and index < n_batches:
            elapsed = time.perf_counter() - started
            report(f"  batch {index}/{n_batches} (epoch at this rate {elapsed / index * n_batches:.0f} s)", elapsed)
    seconds = time.perf_counter() - started
    report(f"one epoch: {n_batches} batches of {config.batch_size}", seconds)
    print(f"mean training loss {loss / n_batches:.4f}; peak RSS {peak_rss_gib():.2f} GiB")
    settings = dataclasses.asdict(config)
    print("config: " + ", ".join(f"{key}={settings[key]}" for key in sorted(settings)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--items", type=int, default=63001, help="catalogue size (Elec: 63001)")
    parser.add_argument("--users", type=int, default=190000)
    parser.add_argument("--interactions", type=int, default=1700000, help="pairs drawn (duplicates merged)")
    parser.add_argument("--dims", default="4096,384", help="feature dimension of each modality")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", type=int, default=20, help="progress lines per epoch (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch threads {torch.get_num_threads()}")
    one_epoch(args)


if __name__ == "__main__":
    main()
