"""The MGCN plugin on tiny datasets: training runs, the purifier, the frozen item graphs, the fuser,
the self-supervised term and the config checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mmbench.config import TrainConfig
from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError
from mmbench.models import BprBatch, RecModel, default_registry
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
from synthetic import tiny_dataset

BATCH = BprBatch(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 5, 9, 11]), torch.tensor([1, 2, 3, 4]))


def two_modality_dataset() -> Dataset:
    """``tiny_dataset()`` (30 users, 60 items, an 8-d ``image`` modality) plus a 5-d ``audio`` one."""
    return tiny_dataset(audio_dim=5)


def mgcn_config(**overrides: object) -> tuple[type[RecModel], TrainConfig]:
    """The registered MGCN class and its default config with a small batch and ``overrides``."""
    cls = default_registry().get("mgcn")
    return cls, dataclasses.replace(cls.config_class(), batch_size=32, **overrides)


def build(dataset: Dataset, seed: int = 0, **overrides: object) -> RecModel:
    cls, config = mgcn_config(**overrides)
    seed_everything(seed)
    return cls(dataset.train_view(), config)


@pytest.mark.parametrize("dataset", [two_modality_dataset(), tiny_dataset()], ids=["two", "one"])
def test_two_epoch_smoke_run(dataset: Dataset) -> None:
    cls, config = mgcn_config(epochs=2, eval_every=1)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    assert len(model.branches) == len(dataset.features)
    outcome = Trainer(model, dataset, config, "standard", torch.device("cpu"), seed=0).fit()
    assert outcome.epochs_run == 2 and len(outcome.history) == 2
    assert 0.0 <= outcome.test.metrics["recall@20"] <= 1.0
    last = outcome.history[-1]
    assert np.isfinite(last["loss"]) and last["cl"] > 0
    assert last["loss"] == pytest.approx(last["bpr"] + last["reg"] + last["cl"], rel=1e-5)


def test_same_seed_same_metrics() -> None:
    dataset = two_modality_dataset()
    cls, config = mgcn_config(epochs=2, eval_every=1)

    def run() -> dict[str, float]:
        seed_everything(3)
        model = cls(dataset.train_view(), config)
        return Trainer(model, dataset, config, "standard", torch.device("cpu"), 3).fit().test.metrics

    assert run() == run()


def test_purifier_gates_each_item_by_its_own_id_embedding() -> None:
    """Changing item j's ID embedding changes row j of every purified modality feature and
    nothing else; the gate in (0, 1) keeps zero ID embeddings at zero."""
    model = build(two_modality_dataset())
    with torch.no_grad():
        before = [p.clone() for p in model.purified_item_features()]
        model.item_embedding.weight[7] += 1.0
        model.item_embedding.weight[8] = 0.0
        after = model.purified_item_features()
    assert len(after) == 2
    others = [i for i in range(model.n_items) if i not in (7, 8)]
    for old, new in zip(before, after):
        assert not torch.allclose(old[7], new[7])
        assert torch.equal(old[others], new[others])
        assert torch.equal(new[8], torch.zeros_like(new[8]))
    # Different modalities gate the same ID embedding differently.
    assert not torch.allclose(after[0], after[1])


@pytest.mark.parametrize("weighting", ["cosine", "binary"])
def test_item_graphs_are_frozen_with_k_entries_per_item(weighting: str) -> None:
    dataset = two_modality_dataset()
    k = 7
    model = build(dataset, knn_k=k, knn_weighting=weighting)
    snapshots = []
    for branch in model.branches:
        graph = branch.item_graph()
        assert graph.indices.shape == graph.weights.shape == (dataset.n_items, k)
        assert graph.to_sparse()._nnz() == dataset.n_items * k
        assert not graph.weights.requires_grad
        snapshots.append((graph.indices.clone(), graph.weights.clone()))
    if weighting == "binary":
        # Every kept edge weighs 1 before the normalisation D^-1/2 S D^-1/2, so 1/k after it.
        assert all(torch.allclose(weights, torch.full_like(weights, 1 / k)) for _, weights in snapshots)
    parameters = {id(p) for p in model.parameters()}
    assert all(id(b.graph_weights) not in parameters for b in model.branches)
    assert not any("graph" in key for key in model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model.train_step(BATCH, optimizer)
    for branch, (indices, weights) in zip(model.branches, snapshots):
        assert torch.equal(branch.graph_indices, indices) and torch.equal(branch.graph_weights, weights)


def test_user_modality_embeddings_aggregate_their_items_over_the_normalised_graph() -> None:
    model = build(two_modality_dataset(), n_ii_layers=0)
    dense = model.adjacency.to_dense()
    block = dense[: model.n_users, model.n_users :]
    assert torch.equal(model.user_items.to_dense(), block)
    with torch.no_grad():
        for view, items in zip(model.modality_views(), model.purified_item_features()):
            assert torch.allclose(view[model.n_users :], items)
            assert torch.allclose(view[: model.n_users], block @ items, atol=1e-6)


def test_one_modality_fuses_to_half_its_view() -> None:
    """With one modality the attention weight is 1, the specific part is zero, and the
    multimodal embedding is the view divided by |M| + 1 = 2."""
    model = build(tiny_dataset())
    with torch.no_grad():
        (view,) = model.modality_views()
        _, multimodal = model.embeddings()
    assert torch.allclose(multimodal, view / 2, atol=1e-6)


def test_fuser_gates_reach_their_parameters() -> None:
    model = build(two_modality_dataset())
    model.loss(BATCH)["loss"].backward()
    for branch in model.branches:
        for layer in (branch.projection, branch.gate, branch.preference):
            assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert model.attention[0].weight.grad.abs().sum() > 0


def test_contrastive_term_is_absent_when_its_weight_is_zero() -> None:
    dataset = two_modality_dataset()
    with_cl = build(dataset, cl_weight=0.5).loss(BATCH)
    without = build(dataset, cl_weight=0.0).loss(BATCH)
    assert "cl" not in without
    assert torch.equal(without["loss"], without["bpr"] + without["reg"])
    # Same seed, same parameters: only the contrastive term differs.
    assert torch.equal(with_cl["bpr"], without["bpr"]) and with_cl["cl"] > 0
    assert with_cl["loss"] > without["loss"]


def test_finetuned_features_are_trained_and_the_graph_stays_fixed() -> None:
    model = build(two_modality_dataset(), finetune_features=True)
    branch = model.branches[0]
    assert isinstance(branch.features, torch.nn.Parameter)
    features, weights = branch.features.detach().clone(), branch.graph_weights.clone()
    model.train_step(BATCH, torch.optim.Adam(model.parameters(), lr=0.1))
    assert not torch.equal(branch.features.detach(), features)
    assert torch.equal(branch.graph_weights, weights)


def test_ablation_variants_remove_the_contrastive_task_and_each_modality() -> None:
    cls, _ = mgcn_config()
    variants = cls.ablation_variants(("audio", "image"))
    assert set(variants) == {"w/o-audio", "w/o-image", "w/o-cl"}
    assert variants["w/o-cl"].overrides == {"cl_weight": "0"}


def test_featureless_dataset_is_refused_naming_the_model() -> None:
    dataset = dataclasses.replace(tiny_dataset(), features={})
    cls, config = mgcn_config()
    with pytest.raises(ConfigError, match="mgcn"):
        cls(dataset.train_view(), config)


def test_knn_k_above_the_catalogue_is_refused() -> None:
    dataset = two_modality_dataset()
    cls, config = mgcn_config(knn_k=dataset.n_items + 1)
    with pytest.raises(ConfigError, match="knn_k"):
        cls(dataset.train_view(), config)


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"knn_weighting": "dense"}, "knn_weighting"),
        ({"cl_temperature": 0.0}, "cl_temperature"),
        ({"cl_weight": -0.1}, "cl_weight"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"n_ii_layers": -1}, "n_ii_layers"),
        ({"knn_k": 0}, "knn_k"),
    ],
)
def test_bad_config_values_are_refused(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        mgcn_config(**overrides)
