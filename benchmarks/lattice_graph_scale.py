"""Memory and time of LATTICE's item graphs at Amazon Elec scale, where dense graphs do not fit.

MMRec's LATTICE builds dense n_items x n_items float32 matrices (about 15.9 GB each at Elec's
63,001 items, several at once), so it has no Elec result. mmbench builds the same graphs sparse
and blockwise (:mod:`mmbench.models.knn`). This script measures that on seeded synthetic data of
Elec's shape: float32 features of 4096 (image) and 384 (text) dimensions.

It builds each modality's initial kNN graph from the raw features and one learned graph from a
64-d projection, printing the time and the process's peak RSS after each step, next to what one
dense matrix would take. ``benchmarks/lattice_epoch_scale.py`` times a full training epoch at the
same size.

Synthetic features are fine for memory and time only: their neighbours mean nothing.

    python benchmarks/lattice_graph_scale.py [--items 63001] [--dims 4096,384] [--threads N]

A small run: add ``--items 8000``.

The figures of a full-size run on the development machine are in the "Scale" section of
docs/reproduction-notes-baselines.md.
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from mmbench.models.knn import knn_graph, symmetric_normalise

GIB = 1024**3


def peak_rss_gib() -> float:
    """The process's peak resident set size so far, in GiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB


def synthetic_features(n_items: int, dims: Sequence[int], seed: int) -> dict[str, np.ndarray]:
    """Seeded standard-normal float32 features, one modality per dimension (named ``m<dim>``)."""
    rng = np.random.default_rng(seed)
    return {f"m{dim}": rng.standard_normal((n_items, dim), dtype=np.float32) for dim in dims}


def synthetic_interactions(n_users: int, n_items: int, n_interactions: int, seed: int) -> sp.csr_matrix:
    """A binary user x item CSR of about ``n_interactions`` uniformly drawn pairs (duplicates merged)."""
    rng = np.random.default_rng(seed + 1)
    users = rng.integers(0, n_users, n_interactions)
    items = rng.integers(0, n_items, n_interactions)
    ones = np.ones(n_interactions, dtype=np.float32)
    matrix = sp.csr_matrix((ones, (users, items)), shape=(n_users, n_items))
    matrix.data[:] = 1.0
    return matrix


def report(step: str, seconds: float) -> None:
    print(f"{step:<44} {seconds:9.2f} s   peak RSS {peak_rss_gib():6.2f} GiB", flush=True)


def build_graphs(features: dict[str, np.ndarray], args: argparse.Namespace) -> None:
    """Each modality's initial graph, then a learned graph from a seeded linear projection."""
    n_items = next(iter(features.values())).shape[0]
    edges = 0
    for name, values in features.items():
        started = time.perf_counter()
        raw = torch.from_numpy(values)
        graph = symmetric_normalise(knn_graph(raw, args.topk, args.block_size))
        edges += graph.indices.numel()
        report(f"initial kNN graph, {name} ({values.shape[1]}-d)", time.perf_counter() - started)
        generator = torch.Generator().manual_seed(args.seed)
        projection = torch.randn(values.shape[1], args.feat_embed_dim, generator=generator)
        started = time.perf_counter()
        with torch.no_grad():
            symmetric_normalise(knn_graph(raw @ projection, args.topk, args.block_size))
        step = f"learned kNN graph, {name} ({args.feat_embed_dim}-d projection)"
        report(step, time.perf_counter() - started)
    mib = edges * (8 + 4) / 2**20
    print(f"sparse graphs: {edges:,} edges in all, {mib:.1f} MiB (int64 column + float32 weight)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--items", type=int, default=63001, help="catalogue size (Elec: 63001)")
    parser.add_argument("--dims", default="4096,384", help="feature dimension of each modality")
    parser.add_argument("--topk", type=int, default=10)
    parser.add_argument("--block-size", type=int, default=1024, help="similarity rows per block")
    parser.add_argument("--feat-embed-dim", type=int, default=64, help="learned-graph projection")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    dims = [int(part) for part in args.dims.split(",") if part.strip()]

    dense_gb = args.items**2 * 4 / 1e9
    print(
        f"{args.items:,} items, modalities {dims}, topk {args.topk}, block {args.block_size}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"a dense {args.items:,}^2 float32 matrix would take {dense_gb:.1f} GB; "
        "LATTICE's code holds several at once"
    )
    started = time.perf_counter()
    features = synthetic_features(args.items, dims, args.seed)
    report("synthetic features", time.perf_counter() - started)
    build_graphs(features, args)


if __name__ == "__main__":
    main()
