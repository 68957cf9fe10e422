"""Blockwise kNN item graphs against a dense reference, and the LATTICE plugin on a tiny dataset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmbench.config import TrainConfig
from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError
from mmbench.models import BprBatch, RecModel, default_registry
from mmbench.models.knn import knn_graph, symmetric_normalise
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
from synthetic import tiny_dataset

N_ITEMS, DIM, K = 40, 6, 5


def dense_reference(features: torch.Tensor, k: int) -> torch.Tensor:
    """The n x n construction the paper writes down: cosine, top-k per row, D^-1/2 S D^-1/2."""
    unit = F.normalize(features, dim=1)
    similarity = unit @ unit.T
    values, columns = similarity.topk(k, dim=1)
    sparse = torch.zeros_like(similarity).scatter(1, columns, values)
    inverse_sqrt = sparse.sum(dim=1).rsqrt()
    return inverse_sqrt[:, None] * sparse * inverse_sqrt[None, :]


def two_modality_dataset() -> Dataset:
    """``tiny_dataset()`` (60 items, an 8-d ``image`` modality) plus a 5-d ``audio`` one."""
    return tiny_dataset(audio_dim=5)


def lattice_config(**overrides: object) -> tuple[type[RecModel], TrainConfig]:
    """The registered LATTICE class and its default config with a small batch and ``overrides``."""
    cls = default_registry().get("lattice")
    return cls, dataclasses.replace(cls.config_class(), batch_size=32, **overrides)


@pytest.mark.parametrize("block_size", [1, 3, 16, N_ITEMS, 1000])
def test_blockwise_knn_matches_dense_reference(block_size: int) -> None:
    features = torch.from_numpy(np.random.default_rng(0).normal(size=(N_ITEMS, DIM)).astype(np.float32))
    reference = dense_reference(features, K)
    graph = symmetric_normalise(knn_graph(features, K, block_size))
    expected_neighbours = [set(np.flatnonzero(row)) for row in reference.numpy()]
    assert [set(row.tolist()) for row in graph.indices] == expected_neighbours
    assert torch.allclose(graph.to_sparse().to_dense(), reference, atol=1e-6)
    # The item itself is one of its neighbours, as in the paper's top-k of the full row.
    assert all(i in set(row.tolist()) for i, row in enumerate(graph.indices))
    dense = torch.randn(N_ITEMS, 3)
    assert torch.allclose(graph.matmul(dense), reference @ dense, atol=1e-5)


def test_knn_graph_stores_n_times_k_entries() -> None:
    features = torch.randn(N_ITEMS, DIM)
    graph = symmetric_normalise(knn_graph(features, K, block_size=7))
    assert graph.indices.shape == graph.weights.shape == (N_ITEMS, K)
    assert graph.to_sparse()._nnz() == N_ITEMS * K


def test_zero_feature_rows_give_zero_rows_not_nan() -> None:
    features = torch.randn(N_ITEMS, DIM)
    features[3] = 0.0
    graph = symmetric_normalise(knn_graph(features, K, block_size=8))
    assert torch.isfinite(graph.weights).all()
    assert not graph.weights[3].any()


def test_knn_weights_carry_gradients_to_the_features() -> None:
    features = torch.randn(N_ITEMS, DIM, requires_grad=True)
    graph = symmetric_normalise(knn_graph(features, K, block_size=16))
    assert torch.allclose(graph.to_sparse().to_dense(), dense_reference(features.detach(), K), atol=1e-6)
    graph.matmul(torch.randn(N_ITEMS, 3)).pow(2).sum().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0


def test_two_epoch_smoke_run_with_two_modalities() -> None:
    dataset = two_modality_dataset()
    cls, config = lattice_config(epochs=2, eval_every=1)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    assert len(model.modality_graphs) == 2
    outcome = Trainer(model, dataset, config, "standard", torch.device("cpu"), seed=0).fit()
    assert outcome.epochs_run == 2 and len(outcome.history) == 2
    assert 0.0 <= outcome.test.metrics["recall@20"] <= 1.0
    assert np.isfinite(outcome.history[-1]["loss"])


def test_gradients_reach_the_feature_projections_and_modality_weights() -> None:
    dataset = two_modality_dataset()
    cls, config = lattice_config()
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    batch = BprBatch(torch.tensor([0, 1, 2]), torch.tensor([0, 5, 9]), torch.tensor([1, 2, 3]))
    model.loss(batch)["loss"].backward()
    for graph in model.modality_graphs:
        assert graph.projection.weight.grad is not None
        assert graph.projection.weight.grad.abs().sum() > 0
    assert model.modality_logits.grad is not None and model.modality_logits.grad.abs().sum() > 0


def test_featureless_dataset_is_refused_naming_the_model() -> None:
    dataset = dataclasses.replace(tiny_dataset(), features={})
    cls, config = lattice_config()
    with pytest.raises(ConfigError, match="lattice"):
        cls(dataset.train_view(), config)


def test_topk_above_the_catalogue_and_bad_lambda_are_refused() -> None:
    dataset = two_modality_dataset()
    cls, config = lattice_config(topk=dataset.n_items + 1)
    with pytest.raises(ConfigError, match="topk"):
        cls(dataset.train_view(), config)
    with pytest.raises(ConfigError, match="lambda_coeff"):
        lattice_config(lambda_coeff=1.5)


def test_same_seed_same_metrics() -> None:
    dataset = two_modality_dataset()
    cls, config = lattice_config(epochs=2, eval_every=1)

    def run() -> dict[str, float]:
        seed_everything(3)
        model = cls(dataset.train_view(), config)
        return Trainer(model, dataset, config, "lattice", torch.device("cpu"), 3).fit().test.metrics

    assert run() == run()


@pytest.mark.parametrize("schedule, second_batch_reaches_projection", [("epoch", False), ("batch", True)])
def test_learned_graph_rebuild_schedule(schedule: str, second_batch_reaches_projection: bool) -> None:
    """``epoch``: only the first batch after on_epoch_start rebuilds (and differentiates) the
    learned graph; ``batch``: every batch does."""
    dataset = two_modality_dataset()
    cls, config = lattice_config(graph_rebuild=schedule)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    batch = BprBatch(torch.tensor([0, 1, 2]), torch.tensor([0, 5, 9]), torch.tensor([1, 2, 3]))
    model.on_epoch_start(1)
    model.loss(batch)["loss"].backward()
    assert all(graph.projection.weight.grad.abs().sum() > 0 for graph in model.modality_graphs)
    model.zero_grad(set_to_none=True)
    model.loss(batch)["loss"].backward()
    reached = [graph.projection.weight.grad is not None for graph in model.modality_graphs]
    assert reached == [second_batch_reaches_projection] * len(reached)
    model.zero_grad(set_to_none=True)
    model.on_epoch_start(2)
    model.loss(batch)["loss"].backward()
    assert all(graph.projection.weight.grad is not None for graph in model.modality_graphs)


def test_unknown_rebuild_schedule_is_refused() -> None:
    with pytest.raises(ConfigError, match="graph_rebuild"):
        lattice_config(graph_rebuild="sometimes")
