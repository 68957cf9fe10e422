"""VBPR and MMGCN: smoke runs with two modalities, the featureless refusal, gradient flow into the
feature projections, CPU reproducibility, VBPR's predictor, MMGCN's layer count, its untrained-ID
and normalised-preference options, and graph ops."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmbench.config import apply_overrides
from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError
from mmbench.models import BprBatch, default_registry
from mmbench.models.graph import mean_bipartite_adjacency, sparse_matmul, transpose_csr
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer, build_optimizer
from synthetic import tiny_dataset

MODELS = ["vbpr", "mmgcn"]


pytestmark = pytest.mark.usefixtures("one_thread")


def two_modalities() -> Dataset:
    return tiny_dataset(audio_dim=5)


def fit(name: str, dataset: Dataset, seed: int) -> dict[str, float]:
    """Test metrics of a 2-epoch run, checking the run's shape on the way."""
    cls = default_registry().get(name)
    config = dataclasses.replace(cls.config_class(), epochs=2, batch_size=32)
    seed_everything(seed)
    model = cls(dataset.train_view(), config)
    outcome = Trainer(model, dataset, config, "lattice", torch.device("cpu"), seed=seed).fit()
    assert outcome.epochs_run == 2 and len(outcome.history) == 2
    assert np.isfinite(outcome.history[-1]["loss"])
    return outcome.test.metrics


@pytest.mark.parametrize("name", MODELS)
def test_two_epoch_smoke_run_with_two_modalities(name: str) -> None:
    metrics = fit(name, two_modalities(), seed=0)
    assert 0.0 <= metrics["recall@20"] <= 1.0


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_metrics(name: str) -> None:
    dataset = two_modalities()
    assert fit(name, dataset, seed=3) == fit(name, dataset, seed=3)


@pytest.mark.parametrize("name", MODELS)
def test_featureless_dataset_is_refused_by_name(name: str) -> None:
    dataset = dataclasses.replace(tiny_dataset(), features={})
    cls = default_registry().get(name)
    with pytest.raises(ConfigError, match=f"model '{name}' needs item features"):
        cls(dataset.train_view(), cls.config_class())


def one_backward(name: str, **overrides: object) -> torch.nn.Module:
    """A fresh model after one backward of its loss on every training pair of the tiny data."""
    dataset = two_modalities()
    cls = default_registry().get(name)
    seed_everything(0)
    model = cls(dataset.train_view(), apply_overrides(cls.config_class(), overrides))
    users, items = dataset.train.nonzero()
    batch = BprBatch(
        torch.from_numpy(users.astype(np.int64)),
        torch.from_numpy(items.astype(np.int64)),
        torch.from_numpy(((items + 1) % dataset.n_items).astype(np.int64)),
    )
    model.loss(batch)["loss"].backward()
    return model


def test_vbpr_gradients_reach_every_modality_of_the_projection() -> None:
    model = one_backward("vbpr")
    assert model.modalities == ("audio", "image")
    # E and beta' act on [audio (5) ; image (8)]: each modality's block must get a gradient
    for weight in (model.projection.weight, model.content_bias.weight):
        assert weight.grad is not None
        assert weight.grad[:, :5].abs().sum() > 0 and weight.grad[:, 5:].abs().sum() > 0


@pytest.mark.parametrize("feature_dim", [0, 4])
def test_mmgcn_gradients_reach_every_modality_projection(feature_dim: int) -> None:
    model = one_backward("mmgcn", feature_dim=feature_dim)
    assert len(model.branches) == 2
    for branch in model.branches:
        first = branch.layers[0]
        weights = [branch.preference.weight, first.aggregate.weight, first.to_id_space.weight]
        if feature_dim:
            weights.append(branch.projection.weight)
        for weight in weights:
            assert weight.grad is not None and weight.grad.abs().sum() > 0
    for table in (model.user_embedding, model.item_embedding):
        assert table.weight.grad.abs().sum() > 0  # the ID embeddings are trained


def test_mmgcn_can_leave_ids_and_preferences_untrained_as_the_authors_code_does() -> None:
    model = one_backward("mmgcn", train_ids=False)
    frozen = [model.user_embedding.weight, model.item_embedding.weight]
    frozen += [branch.preference.weight for branch in model.branches]
    for weight in frozen:
        assert not weight.requires_grad and weight.grad is None
    for branch in model.branches:
        assert branch.layers[0].aggregate.weight.grad.abs().sum() > 0  # the layers still learn
    optimised = {id(p) for p in build_optimizer(model, model.config).param_groups[0]["params"]}
    assert not optimised & {id(weight) for weight in frozen}


def test_mmgcn_normalised_preferences_ignore_their_scale() -> None:
    dataset = two_modalities()
    cls = default_registry().get("mmgcn")
    users = torch.arange(dataset.n_users)
    for normalise, same in ((True, True), (False, False)):
        seed_everything(0)
        config = dataclasses.replace(cls.config_class(), normalise_preferences=normalise)
        model = cls(dataset.train_view(), config)
        with torch.no_grad():
            before = model.score(users)
            for branch in model.branches:
                branch.preference.weight.mul_(7.0)
            assert torch.allclose(model.score(users), before, atol=1e-5) is same


@pytest.mark.parametrize("concat", [True, False])
def test_mmgcn_honours_the_layer_count(concat: bool) -> None:
    dataset = two_modalities()
    cls = default_registry().get("mmgcn")
    users = torch.arange(dataset.n_users)
    scores = {}
    for n_layers in (1, 2):
        seed_everything(0)
        config = dataclasses.replace(cls.config_class(), n_layers=n_layers, concat=concat)
        model = cls(dataset.train_view(), config)
        assert all(len(branch.layers) == n_layers for branch in model.branches)
        with torch.no_grad():
            scores[n_layers] = model.score(users)
            assert torch.allclose(model.scorer()(users), scores[n_layers])
    assert not torch.allclose(scores[1], scores[2])


def test_mmgcn_rejects_zero_layers() -> None:
    cls = default_registry().get("mmgcn")
    with pytest.raises(ConfigError, match="n_layers"):
        dataclasses.replace(cls.config_class(), n_layers=0)


def test_vbpr_score_is_the_papers_predictor() -> None:
    dataset = two_modalities()
    cls = default_registry().get("vbpr")
    seed_everything(0)
    model = cls(dataset.train_view(), cls.config_class())
    with torch.no_grad():
        for parameter in (model.item_bias.weight, model.content_bias.weight):
            parameter.normal_()  # the biases start at zero; make them count
        features = torch.from_numpy(np.hstack([dataset.features["audio"], dataset.features["image"]]))
        users = torch.tensor([0, 7])
        expected = (
            model.item_bias.weight.T
            + model.user_id(users) @ model.item_id.weight.T
            + model.user_content(users) @ (features @ model.projection.weight.T).T
            + (features @ model.content_bias.weight.T).T
        )
        assert torch.allclose(model.score(users), expected, atol=1e-5)
        assert torch.allclose(model.scorer()(users), expected, atol=1e-5)


def test_vbpr_content_dim_must_leave_room_for_the_id_part() -> None:
    cls = default_registry().get("vbpr")
    with pytest.raises(ConfigError, match="content_dim"):
        dataclasses.replace(cls.config_class(), content_dim=64)


def test_mean_adjacency_averages_neighbours_and_sparse_matmul_matches_autograd() -> None:
    train = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32))
    adjacency = mean_bipartite_adjacency(train)
    dense = adjacency.to_dense().numpy()
    assert dense[0, 3:].tolist() == [0.5, 0.5, 0.0]  # user 0 averages its two items
    assert dense[3 + 1, :3].tolist() == [0.5, 0.5, 0.0]  # item 1 averages its two users
    assert not dense[2].any() and not dense[3 + 2].any()  # isolated user and cold item: zero rows
    x = torch.randn(6, 4, dtype=torch.float32, requires_grad=True)
    expected = torch.autograd.grad((adjacency.to_dense() @ x).pow(2).sum(), x)[0]
    product = sparse_matmul(adjacency, transpose_csr(adjacency), x)
    assert torch.allclose(product, adjacency.to_dense() @ x)
    assert torch.allclose(torch.autograd.grad(product.pow(2).sum(), x)[0], expected)
