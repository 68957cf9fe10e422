"""Time of one MMSSL generated-graph rebuild at TikTok size: the scipy construction against torch.

MMSSL rebuilds each modality's generated user-item graph every batch (``rebuild_every`` 1). The
graph's four operators (user->item, item->user and their transposes, normalised as
``graph_norm`` says) are built from a (user, item) pair list by

- ``scipy``: the construction the model used before it moved to torch: a scipy CSR matrix,
  degree scaling with sparse diagonal products, a float64 round trip per operator and a copy to
  the device (kept here as the reference);
- ``torch``: :func:`mmssl.generated_graphs.normalised_pair_graph`, on the pairs' device: one sort
  of a row-major key per orientation, neighbour merging, CSR row pointers from counts;
- ``coo``: the same normalisation with each orientation merged by coalescing a COO tensor and
  converted to CSR by torch (the alternative the sort was measured against).

The pair list is the one the ``rolling`` schedule rebuilds from at the end of an epoch: the
script feeds one epoch of batches of distinct users, with random top-k lists that avoid each
user's training items, through a :class:`~mmssl.generated_graphs.GeneratedGraph`; k comes from
the dataset's ``m_topk_rate`` preset, which ``mmssl`` and ``mmssl-official`` share, so there are
n_users * k pairs. Both norms are timed: ``symmetric`` (``mmssl``) and ``row``
(``mmssl-official``). Only the operator construction is timed; the scipy path also paid, per
batch, the copy of the top-k lists to the CPU and the numpy pair-list assembly, which are left out.

For each device (the CPU at ``--threads``, and cuda when available) and norm the script checks
that the torch and coo results have the scipy result's sparsity pattern, prints the largest
absolute difference of the values (float32 rounding), the median of ``--repeats`` timed builds
per path (after one warm-up; the paths take turns), and scipy's median over the torch and coo medians: above 1 means
faster than scipy. On cuda the timings include a synchronisation, and the scipy time includes
the copy of its operators to the GPU.

    python benchmarks/mmssl_graph_rebuild.py --threads 1 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch

from mmbench.data.loading import load_dataset
from mmbench.models.graph import to_torch_csr
from mmbench.models.registry import default_registry
from mmssl.config import GRAPH_NORMS
from mmssl.generated_graphs import BipartiteOperators, GeneratedGraph, normalised_pair_graph


def scipy_pair_graph(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, norm: str, device: torch.device
) -> BipartiteOperators:
    """The scipy construction: float32 values, duplicates summed, float64 round trip, copied to ``device``."""
    graph = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items), dtype=np.float32
    )
    inverse_sqrt = lambda d: np.where(d > 0, (d + 1e-8) ** -0.5, 0.0).astype(np.float32)  # noqa: E731
    user_scale = sp.diags(inverse_sqrt(np.asarray(graph.sum(axis=1)).ravel()))
    item_scale = sp.diags(inverse_sqrt(np.asarray(graph.sum(axis=0)).ravel()))
    if norm == "symmetric":
        forward = user_scale @ graph @ item_scale
        backward = forward.T
    else:
        forward = user_scale @ graph
        backward = item_scale @ graph.T
    return BipartiteOperators(*(
        to_torch_csr(m.astype(np.float64)).to(device) for m in (forward, backward, forward.T, backward.T)
    ))


def coo_pair_graph(
    users: torch.Tensor, items: torch.Tensor, n_users: int, n_items: int, norm: str, device: torch.device
) -> BipartiteOperators:
    """The torch normalisation with each orientation merged by ``coalesce()`` and converted by
    ``to_sparse_csr()``."""
    inverse_sqrt = lambda d: torch.where(d > 0, (d + 1e-8).pow(-0.5), torch.zeros_like(d))  # noqa: E731
    user_scale = inverse_sqrt(torch.bincount(users, minlength=n_users).float())
    item_scale = inverse_sqrt(torch.bincount(items, minlength=n_items).float())
    ones = torch.ones(len(users), device=device)
    merge = lambda rows, cols, shape: torch.sparse_coo_tensor(  # noqa: E731
        torch.stack([rows, cols]), ones, shape, check_invariants=False
    ).coalesce()
    by_user, by_item = merge(users, items, (n_users, n_items)), merge(items, users, (n_items, n_users))

    def csr(merged: torch.Tensor, scale_users: bool, scale_items: bool) -> torch.Tensor:
        """``merged``'s counts times the chosen degree scales, as CSR."""
        first, second = merged.indices()
        user_ids, item_ids = (first, second) if merged is by_user else (second, first)
        values = merged.values()
        values = values * user_scale[user_ids] if scale_users else values
        values = values * item_scale[item_ids] if scale_items else values
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            coalesced = torch.sparse_coo_tensor(
                merged.indices(), values, merged.shape, is_coalesced=True, check_invariants=False
            )
            return coalesced.to_sparse_csr()

    if norm == "symmetric":
        user_item, item_user = csr(by_user, True, True), csr(by_item, True, True)
        return BipartiteOperators(user_item, item_user, item_user, user_item)
    return BipartiteOperators(
        csr(by_user, True, False), csr(by_item, False, True), csr(by_item, True, False), csr(by_user, False, True)
    )


def epoch_pairs(dataset, k: int, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rolling graph's pair list after one epoch of random top-k lists (training items avoided)."""
    n_batches = -(-dataset.n_users // batch_size)  # the epoch's last batch rebuilds the pair list
    graph = GeneratedGraph(dataset.train, k, "rolling", "own", n_batches, "symmetric")
    generator = torch.Generator().manual_seed(seed)
    train = dataset.train.tocsr()
    order = torch.randperm(dataset.n_users, generator=generator)
    for batch_index, start in enumerate(range(0, dataset.n_users, batch_size)):
        users = order[start:start + batch_size]
        scores = torch.rand(len(users), dataset.n_items, generator=generator)
        observed = train[users.numpy()].tocoo()
        scores[torch.from_numpy(observed.row).long(), torch.from_numpy(observed.col).long()] = 0.0
        graph.update(batch_index, users, torch.topk(scores, k, dim=1).indices)
    return graph.pairs


def compare(actual: BipartiteOperators, expected: BipartiteOperators) -> float:
    """The largest absolute value difference; exits if the sparsity patterns differ."""
    worst = 0.0
    for name in ("user_item", "item_user", "user_item_t", "item_user_t"):
        got, want = getattr(actual, name).cpu(), getattr(expected, name).cpu()
        same_pattern = (
            got.shape == want.shape
            and torch.equal(got.crow_indices(), want.crow_indices().to(got.crow_indices().dtype))
            and torch.equal(got.col_indices(), want.col_indices().to(got.col_indices().dtype))
        )
        if not same_pattern:
            raise SystemExit(f"{name}: the sparsity pattern differs from the scipy construction's")
        if got.values().numel():
            worst = max(worst, float((got.values() - want.values()).abs().max()))
    return worst


def median_seconds(
    paths: dict[str, Callable[[], BipartiteOperators]], device: torch.device, repeats: int
) -> dict[str, float]:
    """Per path, the median time of ``repeats`` builds, taken in turns so that load changes on a
    shared machine affect every path alike; one warm-up build per path first."""

    def once(build: Callable[[], BipartiteOperators]) -> float:
        started = time.perf_counter()
        build()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - started

    for build in paths.values():
        once(build)
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(repeats):
        for name, build in paths.items():
            times[name].append(once(build))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="tiktok")
    parser.add_argument("--repeats", type=int, default=5, help="timed builds per path (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--cpu-only", action="store_true", help="skip cuda even when it is available")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = load_dataset(args.dataset, warn=False)
    config = default_registry().get("mmssl").config_for(dataset.name)
    k = max(1, int(np.floor(dataset.n_items * config.m_topk_rate)))  # as the model's rolling schedule
    users, items = epoch_pairs(dataset, k, config.batch_size, seed=0)
    n_users, n_items = dataset.n_users, dataset.n_items
    print(
        f"{dataset.name}: {n_users} users, {n_items} items, k={k}, {len(users)} pairs; "
        f"{args.threads} CPU thread(s), median of {args.repeats} builds"
    )
    devices = [torch.device("cpu")]
    if torch.cuda.is_available() and not args.cpu_only:
        devices.append(torch.device("cuda"))
    users_np, items_np = users.numpy(), items.numpy()
    print(f"{'device':>6} {'norm':>9} {'scipy s':>8} {'torch s':>8} {'coo s':>8} {'scipy/torch':>11} "
          f"{'scipy/coo':>9} {'max|torch-scipy|':>16} {'max|coo-scipy|':>14}", flush=True)
    for device in devices:
        on_device = users.to(device), items.to(device)
        for norm in GRAPH_NORMS:
            paths = {
                "scipy": lambda: scipy_pair_graph(users_np, items_np, n_users, n_items, norm, device),
                "torch": lambda: normalised_pair_graph(*on_device, n_users, n_items, norm, device),
                "coo": lambda: coo_pair_graph(*on_device, n_users, n_items, norm, device),
            }
            reference = paths["scipy"]()
            torch_error, coo_error = compare(paths["torch"](), reference), compare(paths["coo"](), reference)
            seconds = median_seconds(paths, device, args.repeats)
            print(
                f"{device.type:>6} {norm:>9} {seconds['scipy']:>8.4f} {seconds['torch']:>8.4f} {seconds['coo']:>8.4f} "
                f"{seconds['scipy'] / seconds['torch']:>10.2f}x {seconds['scipy'] / seconds['coo']:>8.2f}x "
                f"{torch_error:>16.1e} {coo_error:>14.1e}"
            )


if __name__ == "__main__":
    main()
