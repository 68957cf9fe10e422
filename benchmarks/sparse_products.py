"""Time of the sparse products the graph models run every step, against the torch alternatives.

Two products sit in the inner loop of the graph-based models, and each was chosen over torch's
plain sparse product. This script measures both choices on TikTok's real graphs, forward plus
backward, so the reasons stay checkable:

- **User-item propagation** (LightGCN, LATTICE, NGCF, FREEDOM, ...): the normalised bipartite
  adjacency times a [U+I, d] embedding table, gradient to the table only. Paths:
  ``csr+transpose`` (:func:`mmbench.models.graph.sparse_matmul`, the one the models use: CSR, and a
  backward that multiplies by a transpose built once), ``csr`` (autograd's own backward of
  ``csr @ dense``) and ``coo`` (``torch.sparse.mm`` on the same matrix in COO layout).
- **Item-item kNN propagation** (LATTICE's learned graph, FREEDOM, MGCN): a k-per-row item graph
  times an [I, d] table, with gradients to the table and to the edge weights (LATTICE learns
  them). Paths: ``embedding_bag`` (:meth:`mmbench.models.knn.KnnGraph.matmul`, the one the models
  use), ``coo`` and ``csr`` (the same matrix as torch sparse tensors whose values require grad).

Every path's forward result and gradients are compared with the reference path's (largest absolute
difference), then each path is timed ``--repeats`` times (the paths take turns, after one warm-up)
over ``--steps`` forward + backward steps; the script prints each path's median and the ratio
``path median / reference median`` (above 1: the alternative is slower).

    python benchmarks/sparse_products.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Callable

import torch

from mmbench.data.loading import load_dataset
from mmbench.models.graph import sparse_matmul, symmetric_bipartite_adjacency, transpose_csr
from mmbench.models.knn import knn_graph

Step = Callable[[], list[torch.Tensor]]


def propagation_paths(adjacency: torch.Tensor, dense: torch.Tensor) -> dict[str, Step]:
    """Forward + backward of ``adjacency @ dense`` three ways; each returns output and grad."""
    transpose = transpose_csr(adjacency)
    coo = adjacency.to_sparse_coo().coalesce()
    upstream = torch.randn(adjacency.shape[0], dense.shape[1], generator=torch.Generator().manual_seed(1))

    def run(product: Callable[[torch.Tensor], torch.Tensor]) -> list[torch.Tensor]:
        table = dense.detach().requires_grad_()
        out = product(table)
        out.backward(upstream)
        return [out.detach(), table.grad]

    return {
        "csr+transpose": lambda: run(lambda table: sparse_matmul(adjacency, transpose, table)),
        "csr": lambda: run(lambda table: adjacency @ table),
        "coo": lambda: run(lambda table: torch.sparse.mm(coo, table)),
    }


def knn_paths(indices: torch.Tensor, weights: torch.Tensor, dense: torch.Tensor) -> dict[str, Step]:
    """Forward + backward of the kNN graph times ``dense``, gradients to both; three layouts."""
    n, k = indices.shape
    rows = torch.arange(n).repeat_interleave(k)
    columns = indices.reshape(-1)
    upstream = torch.randn(n, dense.shape[1], generator=torch.Generator().manual_seed(2))

    def run(product: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> list[torch.Tensor]:
        table = dense.detach().requires_grad_()
        edge_weights = weights.detach().requires_grad_()
        out = product(edge_weights, table)
        out.backward(upstream)
        return [out.detach(), table.grad, edge_weights.grad.reshape(n, k)]

    def as_sparse(edge_weights: torch.Tensor, layout: str) -> torch.Tensor:
        coo = torch.sparse_coo_tensor(
            torch.stack([rows, columns]), edge_weights.reshape(-1), (n, n), check_invariants=False
        )
        return coo if layout == "coo" else coo.to_sparse_csr()

    return {
        "embedding_bag": lambda: run(
            lambda w, table: torch.nn.functional.embedding_bag(indices, table, per_sample_weights=w, mode="sum")
        ),
        "coo": lambda: run(lambda w, table: torch.sparse.mm(as_sparse(w, "coo"), table)),
        "csr": lambda: run(lambda w, table: as_sparse(w, "csr") @ table),
    }


def largest_differences(paths: dict[str, Step], reference: str) -> dict[str, list[float]]:
    """Per path, the largest absolute difference of each returned tensor from the reference's."""
    expected = paths[reference]()
    return {
        name: [float((got - want).abs().max()) for got, want in zip(step(), expected)]
        for name, step in paths.items()
    }


def median_times(paths: dict[str, Step], steps: int, repeats: int) -> dict[str, float]:
    """Median seconds of ``steps`` calls per path over ``repeats`` rounds, the paths taking turns."""
    for step in paths.values():
        step()
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, step in paths.items():
            start = time.perf_counter()
            for _ in range(steps):
                step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(title: str, paths: dict[str, Step], reference: str, parts: list[str], steps: int, repeats: int) -> None:
    """Print one table: difference from the reference per returned part, median time, ratio."""
    differences = largest_differences(paths, reference)
    medians = median_times(paths, steps, repeats)
    print(f"\n{title}: {steps} forward+backward steps per timing, median of {repeats}")
    header = " | ".join(f"max |diff| {part}" for part in parts)
    print(f"| path | {header} | median (s) | / {reference} |")
    print("|---" * (len(parts) + 3) + "|")
    for name in paths:
        cells = " | ".join(f"{value:.2e}" for value in differences[name])
        print(f"| {name} | {cells} | {medians[name]:.4f} | {medians[name] / medians[reference]:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="tiktok")
    parser.add_argument("--dim", type=int, default=64, help="embedding width")
    parser.add_argument("--knn-k", type=int, default=10, help="neighbours per item in the kNN graph")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    dataset = load_dataset(args.dataset)
    generator = torch.Generator().manual_seed(0)
    print(
        f"{dataset.name}: {dataset.n_users} users, {dataset.n_items} items, {dataset.train.nnz} training edges; "
        f"d={args.dim}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )

    adjacency = symmetric_bipartite_adjacency(dataset.train)
    table = torch.randn(adjacency.shape[0], args.dim, generator=generator)
    report(
        "user-item propagation", propagation_paths(adjacency, table), "csr+transpose",
        ["output", "grad table"], args.steps, args.repeats,
    )

    modality = dataset.modalities[0]
    graph = knn_graph(torch.from_numpy(dataset.features[modality]).float(), k=args.knn_k)
    items = torch.randn(dataset.n_items, args.dim, generator=generator)
    report(
        f"item-item kNN propagation ({modality} features, k={args.knn_k})",
        knn_paths(graph.indices, graph.weights, items), "embedding_bag",
        ["output", "grad table", "grad weights"], args.steps, args.repeats,
    )


if __name__ == "__main__":
    main()
