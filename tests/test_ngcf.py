"""The NGCF plugin on tiny datasets: smoke runs, the layer equations, both dropouts, config errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError
from mmbench.models import BprBatch, RecModel, default_registry
from mmbench.models.graph import symmetric_bipartite_adjacency
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
from synthetic import tiny_dataset


def ngcf(**overrides: object) -> tuple[type[RecModel], object]:
    """The registered NGCF class and its default config with a small batch and ``overrides``."""
    cls = default_registry().get("ngcf")
    return cls, dataclasses.replace(cls.config_class(), batch_size=32, **overrides)


DATASETS = {
    "two-modalities": lambda: tiny_dataset(audio_dim=5),
    "one-modality": lambda: tiny_dataset(),
    "no-features": lambda: dataclasses.replace(tiny_dataset(), features={}),
}


@pytest.mark.parametrize(
    "which, propagation", [(which, "paper") for which in DATASETS] + [("two-modalities", "code")]
)
def test_two_epoch_smoke_run(which: str, propagation: str) -> None:
    dataset: Dataset = DATASETS[which]()
    cls, config = ngcf(epochs=2, eval_every=1, propagation=propagation)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    outcome = Trainer(model, dataset, config, "standard", torch.device("cpu"), seed=0).fit()
    assert outcome.epochs_run == 2 and len(outcome.history) == 2
    assert 0.0 <= outcome.test.metrics["recall@20"] <= 1.0
    assert np.isfinite(outcome.history[-1]["loss"])


def test_same_seed_same_metrics() -> None:
    dataset = tiny_dataset(audio_dim=5)
    cls, config = ngcf(epochs=2, eval_every=1)

    def run() -> dict[str, float]:
        seed_everything(3)
        model = cls(dataset.train_view(), config)
        return Trainer(model, dataset, config, "standard", torch.device("cpu"), 3).fit().test.metrics

    assert run() == run()


def test_training_without_dropout_is_deterministic_and_equals_evaluation() -> None:
    dataset = tiny_dataset()
    cls, config = ngcf(node_dropout=0.0, mess_dropout=0.0)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    model.train()
    first, second = model.propagate(), model.propagate()
    model.eval()
    evaluated = model.propagate()
    for a, b, c in zip(first, second, evaluated):
        assert torch.equal(a, b) and torch.equal(a, c)


@pytest.mark.parametrize("ratios", [(0.3, 0.0), (0.0, 0.3)])
def test_either_dropout_changes_training_but_not_evaluation(ratios: tuple[float, float]) -> None:
    dataset = tiny_dataset()
    cls, config = ngcf(node_dropout=ratios[0], mess_dropout=ratios[1])
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    model.train()
    trained = model.propagate()[0]
    assert not torch.equal(trained, model.propagate()[0])
    model.eval()
    assert torch.equal(model.propagate()[0], model.propagate()[0])
    assert not torch.equal(trained, model.propagate()[0])


def test_node_dropout_keeps_about_one_minus_p_of_the_entries_rescaled() -> None:
    dataset = tiny_dataset()
    p = 0.3
    cls, config = ngcf(node_dropout=p)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    full = symmetric_bipartite_adjacency(dataset.train).to_dense()
    model.train()
    kept = []
    for _ in range(20):
        matrix, transpose = model.training_graph()
        dense = matrix.to_dense()
        assert torch.equal(transpose.to_dense(), dense.T)
        nonzero = full != 0
        kept.append(float((dense[nonzero] != 0).float().mean()))
        survivors = dense != 0
        assert torch.allclose(dense[survivors], full[survivors] / (1 - p))
    assert abs(np.mean(kept) - (1 - p)) < 0.03
    model.eval()
    matrix, _ = model.training_graph()
    assert torch.equal(matrix.to_dense(), full)


def test_final_embedding_width_is_embedding_dim_times_layers_plus_one() -> None:
    dataset = tiny_dataset()
    cls, config = ngcf(embedding_dim=8, n_layers=2)
    model = cls(dataset.train_view(), config)
    users, items = model.propagate()
    assert users.shape == (dataset.n_users, 8 * 3)
    assert items.shape == (dataset.n_items, 8 * 3)
    assert torch.equal(users[:, :8], model.user_embedding.weight)


def _dense_code_adjacency(dataset: Dataset) -> torch.Tensor:
    """D^-1 (A + I) of the user-item graph, built densely."""
    n = dataset.n_users + dataset.n_items
    adjacency = torch.zeros(n, n)
    interactions = torch.from_numpy(dataset.train.toarray())
    adjacency[: dataset.n_users, dataset.n_users :] = interactions
    adjacency[dataset.n_users :, : dataset.n_users] = interactions.T
    with_loops = adjacency + torch.eye(n)
    return with_loops / with_loops.sum(dim=1, keepdim=True)


@pytest.mark.parametrize("propagation", ["paper", "code"])
def test_propagation_matches_the_dense_equations(propagation: str) -> None:
    dataset = tiny_dataset()
    cls, config = ngcf(node_dropout=0.0, mess_dropout=0.0, n_layers=2, propagation=propagation)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    if propagation == "paper":
        laplacian = symmetric_bipartite_adjacency(dataset.train).to_dense()
    else:
        laplacian = _dense_code_adjacency(dataset)
    embeddings = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    outputs = [embeddings]
    for layer in model.layers:
        w1, b1 = layer.sum_transform.weight.detach(), layer.sum_transform.bias.detach()
        w2, b2 = layer.bi_transform.weight.detach(), layer.bi_transform.bias.detach()
        side = laplacian @ embeddings
        sum_message = (side + embeddings if propagation == "paper" else side) @ w1.T + b1
        bi_message = (side * embeddings) @ w2.T + b2
        if propagation == "paper":
            # LeakyReLU((L + I) E W1 + (L E ⊙ E) W2), the paper's Eq. (7), with biases.
            embeddings = F.leaky_relu(sum_message + bi_message, 0.2)
        else:
            embeddings = F.leaky_relu(sum_message, 0.2) + F.leaky_relu(bi_message, 0.2)
        outputs.append(F.normalize(embeddings, dim=1))
    expected = torch.cat(outputs, dim=1)
    users, items = model.propagate()
    assert torch.allclose(torch.cat([users, items]), expected, atol=1e-5)


def test_loss_reaches_every_parameter() -> None:
    dataset = tiny_dataset()
    cls, config = ngcf()
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    batch = BprBatch(torch.tensor([0, 1, 2]), torch.tensor([0, 5, 9]), torch.tensor([1, 2, 3]))
    parts = model.loss(batch)
    assert set(parts) == {"loss", "bpr", "reg"} and float(parts["reg"].detach()) > 0
    parts["loss"].backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_id_only_model_has_no_ablation_variants() -> None:
    cls, _ = ngcf()
    assert not cls.needs_features
    assert cls.ablation_variants(("audio", "image")) == {}


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"node_dropout": 1.0}, "node_dropout"),
        ({"mess_dropout": -0.1}, "mess_dropout"),
        ({"n_layers": 0}, "n_layers"),
        ({"embedding_dim": 0}, "embedding_dim"),
        ({"reg_weight": -1.0}, "reg_weight"),
        ({"propagation": "both"}, "propagation"),
    ],
)
def test_bad_config_values_are_refused(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        ngcf(**overrides)
