"""FREEDOM: frozen kNN item graphs, degree-sensitive edge pruning, smoke runs and config checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmbench.config import TrainConfig
from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError
from mmbench.models import BprBatch, RecModel, default_registry
from mmbench.models.graph import symmetric_bipartite_adjacency
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
from synthetic import tiny_dataset


def freedom(**overrides: object) -> tuple[type[RecModel], TrainConfig]:
    """The registered FREEDOM class and its default config with a small batch and ``overrides``."""
    cls = default_registry().get("freedom")
    return cls, dataclasses.replace(cls.config_class(), batch_size=32, **overrides)


def hub_dataset() -> Dataset:
    """20 users x 20 items: user 0 and item 0 are hubs linked to everyone; every other user u
    also has the private edge (u, u). So edges touching a hub join high-degree nodes, and the
    (u, u) edges join two nodes of degree 2."""
    n = 20
    pairs = {(0, i) for i in range(n)} | {(u, 0) for u in range(n)} | {(u, u) for u in range(1, n)}
    users, items = map(np.array, zip(*sorted(pairs)))
    train = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(n, n))
    empty = sp.csr_matrix((n, n), dtype=np.float32)
    features = {"image": np.random.default_rng(0).normal(size=(n, 4)).astype(np.float32)}
    return Dataset(n, n, train, empty, empty, features)


def train_pairs(dataset: Dataset) -> set[tuple[int, int]]:
    users, items = dataset.train.nonzero()
    return set(zip(users.tolist(), items.tolist()))


@pytest.mark.parametrize("dataset", [tiny_dataset(audio_dim=5), tiny_dataset()], ids=["two", "one"])
def test_two_epoch_smoke_run_leaves_the_frozen_item_graphs_unchanged(dataset: Dataset) -> None:
    cls, config = freedom(epochs=2)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    assert len(model.branches) == len(dataset.features)
    graphs = [(b.graph_indices.clone(), b.graph_weights.clone()) for b in model.branches]
    features = [b.features.detach().clone() for b in model.branches]
    dataset_features = {name: array.copy() for name, array in dataset.features.items()}
    outcome = Trainer(model, dataset, config, "standard", torch.device("cpu"), seed=0).fit()
    assert outcome.epochs_run == 2 and len(outcome.history) == 2
    assert 0.0 <= outcome.test.metrics["recall@20"] <= 1.0
    assert all(np.isfinite(row["loss"]) and row["feature_bpr"] > 0 for row in outcome.history)
    for branch, (indices, weights), before in zip(model.branches, graphs, features):
        assert torch.equal(branch.graph_indices, indices) and torch.equal(branch.graph_weights, weights)
        # the raw features were tuned (tune_features=True), but the graph was not rebuilt from them
        assert not torch.equal(branch.features.detach(), before)
    # ... and tuning them never wrote into the dataset's own arrays
    assert all(np.array_equal(dataset.features[name], array) for name, array in dataset_features.items())


def test_same_seed_same_metrics() -> None:
    dataset = tiny_dataset(audio_dim=5)
    cls, config = freedom(epochs=2)

    def run() -> dict[str, float]:
        seed_everything(5)
        model = cls(dataset.train_view(), config)
        return Trainer(model, dataset, config, "standard", torch.device("cpu"), 5).fit().test.metrics

    assert run() == run()


@pytest.mark.parametrize("dropout", [0.0, 0.3, 0.8, 0.9])
def test_pruned_graph_keeps_the_stated_share_of_training_edges(dropout: float) -> None:
    dataset = tiny_dataset(audio_dim=5)
    cls, config = freedom(dropout=dropout)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    n_edges = dataset.train.nnz
    expected = int(n_edges * (1 - dropout))
    kept = model.sample_kept_edges()
    assert kept.shape[0] == expected == len(set(kept.tolist()))
    model.on_epoch_start(1)
    adjacency = model.training_adjacency().to_dense()
    assert int((adjacency != 0).sum()) == 2 * expected  # each kept edge in both directions
    assert torch.allclose(adjacency, adjacency.T)
    users, items = (adjacency[: dataset.n_users, dataset.n_users :] != 0).nonzero(as_tuple=True)
    pruned = set(zip(users.tolist(), items.tolist()))
    assert len(pruned) == expected and pruned <= train_pairs(dataset)
    # Normalised with the pruned graph's own degrees: D^-1/2 A D^-1/2.
    binary = (adjacency != 0).float()
    degree = binary.sum(dim=1)
    scale = torch.where(degree > 0, degree.rsqrt(), torch.zeros_like(degree))
    assert torch.allclose(adjacency, scale[:, None] * binary * scale[None, :], atol=1e-6)


def keep_rates(pruning: str, draws: int = 400) -> tuple[float, float]:
    """Mean keep frequency, over ``draws`` resamples at dropout 0.5 on :func:`hub_dataset`, of the
    edges touching a hub and of the edges between two degree-2 nodes."""
    dataset = hub_dataset()
    cls, config = freedom(dropout=0.5, pruning=pruning)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    counts = torch.zeros(dataset.train.nnz)
    for _ in range(draws):
        counts[model.sample_kept_edges()] += 1
    rates = counts / draws
    hub = (model.edge_users == 0) | (model.edge_items == 0)
    return float(rates[hub].mean()), float(rates[~hub].mean())


def test_degree_sensitive_pruning_drops_edges_between_high_degree_nodes_more_often() -> None:
    hub, low = keep_rates("degree")
    assert hub < 0.4 and low > 0.7
    dataset = hub_dataset()
    cls, config = freedom(dropout=0.5)
    model = cls(dataset.train_view(), config)
    weights = model.edge_keep_weights
    both_hubs = int(((model.edge_users == 0) & (model.edge_items == 0)).nonzero())
    assert weights[both_hubs] == weights.min()  # the hub-hub edge is the least likely kept


def test_uniform_pruning_keeps_every_edge_equally_often() -> None:
    hub, low = keep_rates("uniform")
    assert abs(hub - 0.5) < 0.05 and abs(low - 0.5) < 0.05


def test_frozen_item_graphs_hold_n_items_times_k_binary_entries_per_modality() -> None:
    dataset = tiny_dataset(audio_dim=5)
    cls, config = freedom(knn_k=4)
    model = cls(dataset.train_view(), config)
    assert len(model.branches) == 2
    for branch in model.branches:
        graph = branch.graph()
        assert graph.indices.shape == graph.weights.shape == (dataset.n_items, 4)
        assert graph.to_sparse()._nnz() == dataset.n_items * 4
        # binary kNN normalised by row degrees k: every edge weighs 1/k; the item is its own neighbour
        assert torch.allclose(graph.weights, torch.full_like(graph.weights, 0.25))
        assert all(i in row.tolist() for i, row in enumerate(graph.indices))
        assert not branch.graph_weights.requires_grad


def test_item_graph_mixes_modalities_with_the_given_weights() -> None:
    dataset = tiny_dataset(audio_dim=5)
    cls, config = freedom(modality_weights="image:3,audio:1,text:5")
    model = cls(dataset.train_view(), config)
    assert model.modalities == ("audio", "image") and model.modality_weights == [0.25, 0.75]
    h = model.item_embedding.weight
    expected = sum(w * b.graph().matmul(h) for w, b in zip([0.25, 0.75], model.branches))
    assert torch.allclose(model.item_graph_embeddings(), expected)


def test_evaluation_uses_the_full_graph_and_training_the_pruned_one() -> None:
    dataset = tiny_dataset(audio_dim=5)
    cls, config = freedom(dropout=0.5)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    full = symmetric_bipartite_adjacency(dataset.train).to_dense()
    assert torch.allclose(model.full_adjacency.to_dense(), full)
    users_a, items_a = model.propagate()
    model.on_epoch_start(1)
    users_b, items_b = model.propagate()
    assert torch.equal(users_a, users_b) and torch.equal(items_a, items_b)
    first = model.training_adjacency().to_dense()
    model.on_epoch_start(2)
    assert not torch.equal(first, model.training_adjacency().to_dense())  # resampled each epoch
    assert not torch.equal(first, full)


def test_gradients_reach_ids_projections_and_tuned_features_only_when_asked() -> None:
    dataset = tiny_dataset(audio_dim=5)
    batch = BprBatch(torch.tensor([0, 1, 2]), torch.tensor([0, 5, 9]), torch.tensor([1, 2, 3]))
    for tune in (True, False):
        cls, config = freedom(tune_features=tune)
        seed_everything(0)
        model = cls(dataset.train_view(), config)
        model.loss(batch)["loss"].backward()
        assert model.user_embedding.weight.grad.abs().sum() > 0
        for branch in model.branches:
            assert branch.projection.weight.grad.abs().sum() > 0
            assert isinstance(branch.features, torch.nn.Parameter) is tune
            assert (branch.features.grad is not None) is tune


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="dropout"):
        freedom(dropout=1.0)
    with pytest.raises(ConfigError, match="pruning"):
        freedom(pruning="random")
    with pytest.raises(ConfigError, match="modality_weights"):
        freedom(modality_weights="image=0.1")
    with pytest.raises(ConfigError, match="modality_weights"):
        freedom(modality_weights="image:-1,audio:1")
    with pytest.raises(ConfigError, match="reg_weight"):
        freedom(reg_weight=-1e-4)
    dataset = tiny_dataset(audio_dim=5)
    cls, config = freedom(modality_weights="image:0.1,text:0.9")
    with pytest.raises(ConfigError, match="audio"):
        cls(dataset.train_view(), config)
    cls, config = freedom(knn_k=dataset.n_items + 1)
    with pytest.raises(ConfigError, match="knn_k"):
        cls(dataset.train_view(), config)
    with pytest.raises(ConfigError, match="freedom"):
        cls(dataclasses.replace(dataset, features={}).train_view(), freedom()[1])
