"""Plugin contract, registry and one 2-epoch smoke run per ID-only model on a tiny dataset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from mmbench.config import TrainConfig
from mmbench.errors import ConfigError
from mmbench.models import BprBatch, ModelRegistry, RecModel, default_registry
from mmbench.models.graph import symmetric_bipartite_adjacency
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
from synthetic import tiny_dataset


@pytest.mark.parametrize("name", ["mf_bpr", "lightgcn"])
def test_two_epoch_smoke_run(name: str) -> None:
    dataset = tiny_dataset()
    cls = default_registry().get(name)
    config = dataclasses.replace(cls.config_class(), epochs=2, batch_size=32)
    seed_everything(0)
    model = cls(dataset.train_view(), config)
    outcome = Trainer(model, dataset, config, "standard", torch.device("cpu"), seed=0).fit()
    assert outcome.epochs_run == 2
    assert len(outcome.history) == 2
    assert 0.0 <= outcome.test.metrics["recall@20"] <= 1.0
    assert np.isfinite(outcome.history[-1]["loss"])


@pytest.mark.parametrize("name", ["mf_bpr", "lightgcn"])
def test_training_reduces_loss(name: str) -> None:
    dataset = tiny_dataset()
    cls = default_registry().get(name)
    config = dataclasses.replace(cls.config_class(), epochs=15, batch_size=32, lr=0.01, patience=0)
    seed_everything(1)
    outcome = Trainer(cls(dataset.train_view(), config), dataset, config, "standard", torch.device("cpu"), 1).fit()
    assert outcome.history[-1]["bpr"] < outcome.history[0]["bpr"]


def test_same_seed_same_result() -> None:
    dataset = tiny_dataset()
    cls = default_registry().get("lightgcn")
    config = dataclasses.replace(cls.config_class(), epochs=3, batch_size=16)

    def run() -> dict[str, float]:
        seed_everything(7)
        model = cls(dataset.train_view(), config)
        return Trainer(model, dataset, config, "lattice", torch.device("cpu"), 7).fit().test.metrics

    assert run() == run()


def test_registry_lists_builtin_models_and_rejects_unknown() -> None:
    registry = default_registry()
    assert {"mf_bpr", "lightgcn"} <= set(registry.names())
    with pytest.raises(ConfigError, match="valid models: .*lightgcn.*mf_bpr"):
        registry.get("lightgnc")


def test_the_registry_checks_the_contract() -> None:
    class Broken(RecModel):
        def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
            return {}

    with pytest.raises(TypeError, match="model 'broken': Broken must implement score"):
        ModelRegistry().add(Broken, "broken")


def test_names_are_checked_without_importing_a_model() -> None:
    registry = ModelRegistry({"fine": "no_such_package.module:Model"})
    assert registry.check("fine") == ["fine"]
    with pytest.raises(ConfigError, match="unknown model 'lightgnc', 'x'; valid models: fine"):
        registry.check("fine,lightgnc,x")


def test_every_builtin_model_is_named_by_its_entry_point() -> None:
    registry = default_registry()
    assert {"mf_bpr", "lightgcn", "vbpr", "mmgcn", "lattice", "mmssl", "mmssl-official"} <= set(registry.names())
    for name in registry.names():
        assert registry.get(name).name == name


def test_registry_accepts_a_model_defined_elsewhere() -> None:
    class Popularity(RecModel):
        """Scores items by training popularity (a model defined outside mmbench)."""

        def __init__(self, view, config: TrainConfig) -> None:
            super().__init__(view, config)
            counts = np.asarray(view.train.sum(axis=0)).ravel()
            self.register_buffer("counts", torch.from_numpy(counts.astype(np.float32)))
            self.bias = torch.nn.Parameter(torch.zeros(1))

        def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
            loss = (self.bias**2).sum()
            return {"loss": loss}

        def score(self, users: torch.Tensor) -> torch.Tensor:
            return self.counts.expand(len(users), -1)

    registry = ModelRegistry()
    registry.add(Popularity, "popularity")
    assert registry.get("popularity") is Popularity and Popularity.name == "popularity"


def test_symmetric_adjacency_is_normalised_and_handles_isolated_nodes() -> None:
    train = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32))
    adjacency = symmetric_bipartite_adjacency(train).to_dense().numpy()
    # user 0 has degree 2, item 1 has degree 2: weight 1/sqrt(2*2) = 0.5
    assert adjacency[0, 3 + 1] == pytest.approx(0.5)
    # user 1 (degree 1) - item 1 (degree 2): 1/sqrt(2)
    assert adjacency[1, 3 + 1] == pytest.approx(2**-0.5)
    assert np.allclose(adjacency, adjacency.T)
    assert not adjacency[2].any() and not adjacency[:, 3 + 2].any()
