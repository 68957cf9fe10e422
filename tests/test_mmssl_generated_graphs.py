"""MMSSL's generated graphs, built in torch, against the scipy/numpy construction they replaced.

The references below are that construction as it was (scipy CSR, float64 round trip, numpy state),
kept here so that the torch rebuild can be checked to give the same operators, the same pair
lists under both schedules and pairings, and to load the state the numpy version saved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmbench.models.graph import to_torch_csr
from mmssl.generated_graphs import BipartiteOperators, GeneratedGraph, assigned_items, normalised_pair_graph

pytestmark = pytest.mark.usefixtures("one_thread")

NORMS = ("symmetric", "row")


# ----- references: the scipy/numpy construction -------------------------------------------------


def scipy_pair_graph(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, norm: str, dtype: torch.dtype = torch.float32
) -> BipartiteOperators:
    """The operators as the scipy construction built them (duplicates summed, float32 values)."""
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
        to_torch_csr(m.astype(np.float64), dtype) for m in (forward, backward, forward.T, backward.T)
    ))


class NumpyGeneratedGraph:
    """The schedule as the numpy version ran it: same pair lists, state as numpy arrays."""

    def __init__(self, train: sp.csr_matrix, k: int, schedule: str, pairing: str, rebuild_every: int) -> None:
        coo = train.tocoo()
        self.train_users, self.train_items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        self.k, self.schedule, self.pairing, self.rebuild_every = k, schedule, pairing, rebuild_every
        self.latest = np.zeros((train.shape[0], k), dtype=np.int64)
        self.seen = np.zeros(train.shape[0], dtype=bool)
        self.pending_users: list[np.ndarray] = []
        self.pending_items: list[np.ndarray] = []
        self.batches_since_rebuild = 0
        self.pairs = (self.train_users, self.train_items)

    def update(self, batch_index: int, users: torch.Tensor, topk: torch.Tensor) -> None:
        items = assigned_items(topk, self.pairing).cpu().numpy()
        user_ids = users.cpu().numpy()
        if self.schedule == "official":
            if batch_index % self.rebuild_every == 0 and batch_index != 0:
                self.pairs = (joined(self.pending_users), joined(self.pending_items))
                self.pending_users, self.pending_items = [], []
            else:
                self.pending_users.append(np.repeat(user_ids, items.shape[1]))
                self.pending_items.append(items.reshape(-1))
            return
        self.latest[user_ids] = items
        self.seen[user_ids] = True
        self.batches_since_rebuild += 1
        if self.batches_since_rebuild >= self.rebuild_every:
            self.batches_since_rebuild = 0
            seen_users = np.flatnonzero(self.seen)
            keep = ~self.seen[self.train_users]
            self.pairs = (
                np.concatenate([self.train_users[keep], np.repeat(seen_users, self.k)]),
                np.concatenate([self.train_items[keep], self.latest[seen_users].reshape(-1)]),
            )

    def state(self) -> dict[str, Any]:
        """The state dictionary the numpy version saved in checkpoints."""
        return {
            "latest": torch.from_numpy(self.latest.copy()),
            "seen": torch.from_numpy(self.seen.copy()),
            "pending_users": torch.from_numpy(joined(self.pending_users)),
            "pending_items": torch.from_numpy(joined(self.pending_items)),
            "pair_users": torch.from_numpy(self.pairs[0].copy()),
            "pair_items": torch.from_numpy(self.pairs[1].copy()),
            "batches_since_rebuild": self.batches_since_rebuild,
        }


def joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


# ----- helpers ------------------------------------------------------------------------------------


def tensors(operators: BipartiteOperators) -> tuple[torch.Tensor, ...]:
    return operators.user_item, operators.item_user, operators.user_item_t, operators.item_user_t


def dense(operators: BipartiteOperators) -> list[torch.Tensor]:
    return [m.to_dense() for m in tensors(operators)]


def assert_same_operators(actual: BipartiteOperators, expected: BipartiteOperators) -> None:
    for got, want in zip(dense(actual), dense(expected)):
        assert got.shape == want.shape and got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)


def random_train(n_users: int, n_items: int, seed: int) -> sp.csr_matrix:
    """A random interaction matrix with an empty user row and an empty item column."""
    rng = np.random.default_rng(seed)
    matrix = (rng.random((n_users, n_items)) < 0.3).astype(np.float32)
    matrix[1] = 0.0
    matrix[:, 2] = 0.0
    return sp.csr_matrix(matrix)


def random_batches(
    n_users: int, n_items: int, k: int, count: int, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` batches of distinct users with random top-k lists (distinct items per user)."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        users = torch.randperm(n_users, generator=generator)[: n_users // 3]
        topk = torch.stack([torch.randperm(n_items, generator=generator)[:k] for _ in users])
        batches.append((users, topk))
    return batches


# ----- operators ----------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_torch_operators_equal_the_scipy_construction(norm: str, seed: int) -> None:
    """Random pair lists with many duplicate pairs, users and items without pairs."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 30
    n_pairs = 300
    users = rng.integers(0, n_users - 5, n_pairs)  # the last 5 users have no pairs
    items = rng.choice(np.arange(0, n_items, 2), n_pairs)  # odd items have no pairs
    assert len(set(zip(users.tolist(), items.tolist()))) < n_pairs  # duplicates
    expected = scipy_pair_graph(users, items, n_users, n_items, norm)
    for pairs in ((users, items), (torch.from_numpy(users), torch.from_numpy(items))):
        actual = normalised_pair_graph(*pairs, n_users, n_items, norm, torch.device("cpu"))
        assert_same_operators(actual, expected)
        assert all(m.layout == torch.sparse_csr for m in tensors(actual))


@pytest.mark.parametrize("norm", NORMS)
def test_float64_operators_are_the_float32_values_cast(norm: str) -> None:
    rng = np.random.default_rng(3)
    users, items = rng.integers(0, 12, 80), rng.integers(0, 9, 80)
    actual = normalised_pair_graph(users, items, 12, 9, norm, torch.device("cpu"), torch.float64)
    assert_same_operators(actual, scipy_pair_graph(users, items, 12, 9, norm, torch.float64))


@pytest.mark.parametrize("norm", NORMS)
def test_empty_pair_list_gives_zero_operators(norm: str) -> None:
    empty = torch.zeros(0, dtype=torch.int64)
    operators = normalised_pair_graph(empty, empty, 4, 3, norm, torch.device("cpu"))
    assert_same_operators(operators, scipy_pair_graph(empty.numpy(), empty.numpy(), 4, 3, norm))
    assert all(not m.any() for m in dense(operators))


def test_operators_by_hand() -> None:
    """G = [[2, 1, 0], [0, 1, 0], [0, 0, 0]] (pair (0, 0) twice); user degrees 3, 1, 0, item degrees 2, 2, 0."""
    users, items = torch.tensor([0, 0, 0, 1]), torch.tensor([0, 1, 0, 1])
    s3, s2, s6 = 3**-0.5, 2**-0.5, 6**-0.5
    symmetric = normalised_pair_graph(users, items, 3, 3, "symmetric", torch.device("cpu"))
    forward = torch.tensor([[2 * s6, s6, 0], [0, s2, 0], [0, 0, 0]])
    for got, want in zip(dense(symmetric), (forward, forward.T, forward.T, forward)):
        torch.testing.assert_close(got, want)
    row = normalised_pair_graph(users, items, 3, 3, "row", torch.device("cpu"))
    forward = torch.tensor([[2 * s3, s3, 0], [0, 1, 0], [0, 0, 0]])
    backward = torch.tensor([[2 * s2, 0, 0], [s2, s2, 0], [0, 0, 0]])
    for got, want in zip(dense(row), (forward, backward, forward.T, backward.T)):
        torch.testing.assert_close(got, want)


# ----- the update schedule --------------------------------------------------------------------------


SCHEDULES = [
    ("rolling", "own", 1), ("rolling", "official", 1), ("rolling", "own", 2),
    ("official", "own", 1), ("official", "official", 1), ("official", "own", 2), ("official", "official", 3),
]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize(("schedule", "pairing", "rebuild_every"), SCHEDULES)
def test_update_sequence_gives_the_numpy_pairs_and_scipy_matrices(
    schedule: str, pairing: str, rebuild_every: int, norm: str
) -> None:
    """Two epochs of four batches (the batch index restarts each epoch, as in the model)."""
    train = random_train(15, 11, seed=0)
    k = 3
    graph = GeneratedGraph(train, k, schedule, pairing, rebuild_every, norm)
    reference = NumpyGeneratedGraph(train, k, schedule, pairing, rebuild_every)
    like = torch.zeros(1)
    for step, (users, topk) in enumerate(random_batches(15, 11, k, count=8, seed=1)):
        graph.update(step % 4, users, topk)
        reference.update(step % 4, users, topk)
        for got, want in zip(graph.pairs, reference.pairs):
            assert got.dtype == torch.int64
            np.testing.assert_array_equal(got.numpy(), want)
        assert graph.n_edges() == len(reference.pairs[0])
        assert_same_operators(graph.matrices(like), scipy_pair_graph(*reference.pairs, 15, 11, norm))
        assert graph.matrices(like) is graph.matrices(like)  # cached until the pairs change
        new_state, old_state = graph.state(), reference.state()
        assert new_state.keys() == old_state.keys()
        for key, value in old_state.items():
            if isinstance(value, torch.Tensor):
                assert new_state[key].dtype == value.dtype and new_state[key].device.type == "cpu"
                assert torch.equal(new_state[key], value)
            else:
                assert new_state[key] == value


@pytest.mark.parametrize(("schedule", "pairing", "rebuild_every"), SCHEDULES)
def test_a_state_saved_by_the_numpy_version_continues_the_same_schedule(
    schedule: str, pairing: str, rebuild_every: int
) -> None:
    train = random_train(15, 11, seed=2)
    batches = random_batches(15, 11, 2, count=6, seed=3)
    reference = NumpyGeneratedGraph(train, 2, schedule, pairing, rebuild_every)
    for step, (users, topk) in enumerate(batches[:3]):
        reference.update(step, users, topk)
    graph = GeneratedGraph(train, 2, schedule, pairing, rebuild_every, "row")
    graph.load_state(reference.state())
    for step, (users, topk) in enumerate(batches[3:], start=3):
        graph.update(step, users, topk)
        reference.update(step, users, topk)
        for got, want in zip(graph.pairs, reference.pairs):
            np.testing.assert_array_equal(got.numpy(), want)
    assert_same_operators(graph.matrices(torch.zeros(1)), scipy_pair_graph(*reference.pairs, 15, 11, "row"))


def test_state_is_a_copy_and_restores_onto_the_device_of_the_graph() -> None:
    """A CPU state loads into a graph whose state is on ``meta`` without leaving the device (no numpy)."""
    train = random_train(15, 11, seed=4)
    graph = GeneratedGraph(train, 2, "rolling", "own", 1, "symmetric")
    users, topk = random_batches(15, 11, 2, count=1, seed=5)[0]
    graph.update(0, users, topk)
    state = graph.state()
    state["latest"].fill_(0)
    assert graph.latest[users].tolist() == topk.tolist()  # the state does not alias the graph
    on_meta = GeneratedGraph(train, 2, "official", "own", 1, "symmetric")
    meta = torch.device("meta")
    on_meta.update(0, users.to(meta), topk.to(meta))  # batch 0 only queues pairs: the state follows the batch
    assert on_meta.device == meta and on_meta.train_users.device == meta
    on_meta.load_state(graph.state())
    assert all(t.device == meta for t in (on_meta.latest, on_meta.seen, *on_meta.pairs))
    assert on_meta.n_edges() == graph.n_edges()
