"""GRCN: smoke runs with one and two modalities, reproducibility, the refined graph (training edges
only, weight ranges, pruning), differentiable edge weights, propagation against a dense reference,
and config validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError
from mmbench.models.graph import training_edges
from mmbench.models import BprBatch, RecModel, default_registry
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
from synthetic import tiny_dataset

from baselines.grcn import BipartiteEdges, GRCNConfig, segment_softmax

pytestmark = pytest.mark.usefixtures("one_thread")

BATCH = BprBatch(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 5, 9, 11]), torch.tensor([1, 2, 3, 4]))


def grcn(dataset: Dataset, **overrides: object) -> tuple[RecModel, GRCNConfig]:
    """A GRCN on ``dataset`` with a small batch, seeded, and its config."""
    cls = default_registry().get("grcn")
    config = dataclasses.replace(cls.config_class(), batch_size=32, **overrides)
    seed_everything(0)
    return cls(dataset.train_view(), config), config


def fit(dataset: Dataset, seed: int) -> dict[str, float]:
    """Test metrics of a 2-epoch run through the shared trainer, checking the run's shape."""
    cls = default_registry().get("grcn")
    config = dataclasses.replace(cls.config_class(), epochs=2, batch_size=32, lr=1e-2)
    seed_everything(seed)
    model = cls(dataset.train_view(), config)
    outcome = Trainer(model, dataset, config, "standard", torch.device("cpu"), seed=seed).fit()
    assert outcome.epochs_run == 2 and len(outcome.history) == 2
    assert np.isfinite(outcome.history[-1]["loss"])
    assert 0.0 <= outcome.test.metrics["recall@20"] <= 1.0
    return outcome.test.metrics


def train_pairs(dataset: Dataset) -> set[tuple[int, int]]:
    """The training (user, item) pairs."""
    users, items = dataset.train.nonzero()
    return set(zip(users.tolist(), items.tolist()))


def take_steps(model: RecModel, config: GRCNConfig, steps: int = 5) -> None:
    """A few optimiser steps on a fixed batch, so that the weights are no longer the initial ones."""
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-2)
    for _ in range(steps):
        model.train_step(BATCH, optimizer)


def test_two_epoch_smoke_run_with_two_modalities() -> None:
    fit(tiny_dataset(audio_dim=5), seed=0)


def test_two_epoch_smoke_run_with_one_modality() -> None:
    dataset = tiny_dataset()
    assert len(dataset.train_view().modalities) == 1
    fit(dataset, seed=0)


def test_same_seed_same_metrics() -> None:
    dataset = tiny_dataset(audio_dim=5)
    assert fit(dataset, seed=3) == fit(dataset, seed=3)


@pytest.mark.parametrize("weight_mode", ["confid", "max", "mean"])
@pytest.mark.parametrize("pruning", [True, False])
def test_refined_graph_holds_only_training_edges(weight_mode: str, pruning: bool) -> None:
    dataset = tiny_dataset(audio_dim=5)
    model, config = grcn(dataset, weight_mode=weight_mode, pruning=pruning)
    take_steps(model, config)
    adjacency = model.refined_graph().adjacency(dataset.n_users, dataset.n_items)
    rows, cols = adjacency.indices().tolist()
    allowed = train_pairs(dataset)
    n_users = dataset.n_users
    for target, source in zip(rows, cols):
        user, item = (target, source - n_users) if target < n_users else (source, target - n_users)
        assert (user, item) in allowed
    # Without pruning every training edge keeps a non-zero weight in both directions.
    if not pruning:
        assert adjacency._nnz() == 2 * len(allowed)


def test_confidence_weights_are_pruned_to_zero_and_bounded_by_the_confidences() -> None:
    dataset = tiny_dataset(audio_dim=5)
    model, config = grcn(dataset)
    take_steps(model, config)
    edges = model.refined_graph()
    n_users = dataset.n_users
    bound_to_user = model.confidence[edges.items + n_users].abs().max(dim=1).values
    bound_to_item = model.confidence[edges.users].abs().max(dim=1).values
    for weights, bound in ((edges.to_user, bound_to_user), (edges.to_item, bound_to_item)):
        assert (weights >= 0).all() and (weights <= bound + 1e-6).all()
    weights = torch.cat([edges.to_user, edges.to_item])
    assert (weights == 0).any() and (weights > 0).any()
    # The same model without the ReLU has negative weights: the pruning is what zeroes them.
    unpruned, _ = grcn(dataset, pruning=False)
    unpruned.load_state_dict(model.state_dict())
    raw = unpruned.refined_graph()
    raw_weights = torch.cat([raw.to_user, raw.to_item])
    assert (raw_weights < 0).any()
    assert torch.equal(weights, torch.relu(raw_weights))


@pytest.mark.parametrize("weight_mode", ["max", "mean"])
def test_confidence_free_weights_are_in_the_unit_interval(weight_mode: str) -> None:
    dataset = tiny_dataset(audio_dim=5)
    model, config = grcn(dataset, weight_mode=weight_mode, pruning=False)
    take_steps(model, config)
    edges = model.refined_graph()
    for weights in (edges.to_user, edges.to_item):
        assert (weights > 0).all() and (weights <= 1 + 1e-6).all()


def test_segment_softmax_sums_to_one_within_each_group() -> None:
    scores = torch.tensor([1.0, 2.0, -3.0, 50.0, 0.5, 900.0])
    groups = torch.tensor([0, 0, 2, 2, 2, 3])
    result = segment_softmax(scores, groups, 5)
    totals = torch.zeros(5).index_add(0, groups, result)
    assert torch.allclose(totals, torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0]))
    assert torch.allclose(result[:2], torch.softmax(scores[:2], dim=0))
    assert torch.isfinite(result).all()


def test_gradients_reach_the_edge_weights_through_the_refined_graph() -> None:
    dataset = tiny_dataset(audio_dim=5)
    model, _ = grcn(dataset)
    model.loss(BATCH)["loss"].backward()
    assert model.confidence.grad is not None and model.confidence.grad.abs().sum() > 0
    for refiner in model.refiners:
        assert refiner.projection.weight.grad.abs().sum() > 0
        assert refiner.preference.grad.abs().sum() > 0


def test_id_propagation_matches_a_dense_reference() -> None:
    dataset = tiny_dataset(audio_dim=5)
    model, config = grcn(dataset, n_layers=2)
    take_steps(model, config)
    with torch.no_grad():
        dense = model.refined_graph().adjacency(dataset.n_users, dataset.n_items).to_dense()
        layer0 = torch.nn.functional.normalize(model.id_embedding, dim=1)
        expected = layer0 + dense @ layer0 + dense @ (dense @ layer0)
        users, items = model.propagate()
    d = config.embedding_dim
    assert users.shape[1] == items.shape[1] == d + 2 * config.content_dim
    assert torch.allclose(torch.cat([users[:, :d], items[:, :d]]), expected, atol=1e-5)


def test_routing_refines_user_prototypes_from_their_own_items_only() -> None:
    dataset = tiny_dataset()
    routed, _ = grcn(dataset, n_routing=3)
    unrouted, _ = grcn(dataset, n_routing=0)
    unrouted.load_state_dict(routed.state_dict())
    with torch.no_grad():
        assert not torch.allclose(routed.propagate()[0], unrouted.propagate()[0])
        user = 0
        own = set(dataset.train[user].indices.tolist())
        other = next(i for i in range(dataset.n_items) if i not in own)
        before = routed.propagate()[0][user]
        routed.refiners[0].features[other] += 10.0
        assert torch.equal(routed.propagate()[0][user], before)
        routed.refiners[0].features[next(iter(own))] += 10.0
        assert not torch.allclose(routed.propagate()[0][user], before)


def test_tiktok_preset_uses_the_authors_tiktok_penalty() -> None:
    cls = default_registry().get("grcn")
    assert cls.config_for("tiktok").reg_weight == 1e-3
    assert cls.config_for("lfm2k").reg_weight == cls.config_class().reg_weight


def test_featureless_dataset_is_refused_by_name() -> None:
    dataset = dataclasses.replace(tiny_dataset(), features={})
    with pytest.raises(ConfigError, match="grcn"):
        grcn(dataset)


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"weight_mode": "min"}, "weight_mode"),
        ({"n_routing": -1}, "n_routing"),
        ({"n_layers": -1}, "n_layers"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"content_dim": 0}, "content_dim"),
        ({"reg_weight": -1.0}, "reg_weight"),
    ],
)
def test_bad_config_values_are_refused(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        GRCNConfig(**overrides)


def test_edge_products_match_gathered_messages_and_pass_gradcheck() -> None:
    dataset = tiny_dataset()
    users, items = training_edges(dataset.train)
    edges = BipartiteEdges(users, items, dataset.n_users, dataset.n_items)
    generator = torch.Generator().manual_seed(0)
    user_x = torch.randn(dataset.n_users, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    item_x = torch.randn(dataset.n_items, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    weights = torch.randn(len(users), dtype=torch.float64, generator=generator, requires_grad=True)
    gathered_to_users = torch.zeros_like(user_x).index_add(0, users, weights[:, None] * item_x[items])
    gathered_to_items = torch.zeros_like(item_x).index_add(0, items, weights[:, None] * user_x[users])
    assert torch.allclose(edges.dot(user_x, item_x), (user_x[users] * item_x[items]).sum(-1))
    assert torch.allclose(edges.to_users(weights, item_x), gathered_to_users)
    assert torch.allclose(edges.to_items(weights, user_x), gathered_to_items)
    assert torch.autograd.gradcheck(edges.dot, (user_x, item_x))
    assert torch.autograd.gradcheck(edges.to_users, (weights, item_x))
    assert torch.autograd.gradcheck(edges.to_items, (weights, user_x))
