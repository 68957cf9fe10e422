"""BM3 on tiny datasets: smoke runs, reproducibility, the negative-free loss, stop-gradients, scoring."""

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

pytestmark = pytest.mark.usefixtures("one_thread")

BATCH = BprBatch(torch.tensor([0, 1, 2, 2, 7]), torch.tensor([0, 5, 9, 11, 3]), torch.tensor([1, 2, 3, 4, 6]))


def bm3(**overrides: object) -> tuple[type[RecModel], TrainConfig]:
    """The registered BM3 class and its default config with a small batch and ``overrides``."""
    cls = default_registry().get("bm3")
    return cls, dataclasses.replace(cls.config_class(), batch_size=32, **overrides)


def build(dataset: Dataset | None = None, seed: int = 0, **overrides: object) -> RecModel:
    cls, config = bm3(**overrides)
    seed_everything(seed)
    return cls((dataset or tiny_dataset(audio_dim=5)).train_view(), config)


def fit(dataset: Dataset, seed: int) -> dict[str, float]:
    cls, config = bm3(epochs=2, eval_every=1)
    seed_everything(seed)
    model = cls(dataset.train_view(), config)
    outcome = Trainer(model, dataset, config, "standard", torch.device("cpu"), seed).fit()
    assert outcome.epochs_run == 2 and len(outcome.history) == 2
    assert np.isfinite(outcome.history[-1]["loss"])
    return outcome.test.metrics


@pytest.mark.parametrize("audio_dim, n_modalities", [(5, 2), (None, 1)])
def test_two_epoch_smoke_run(audio_dim: int | None, n_modalities: int) -> None:
    dataset = tiny_dataset(audio_dim=audio_dim)
    assert len(build(dataset).modality_projections) == n_modalities
    metrics = fit(dataset, seed=0)
    assert 0.0 <= metrics["recall@20"] <= 1.0 and np.isfinite(metrics["ndcg@20"])


def test_same_seed_same_metrics() -> None:
    dataset = tiny_dataset(audio_dim=5)
    assert fit(dataset, seed=3) == fit(dataset, seed=3)


def loss_and_gradients(model: RecModel, batch: BprBatch) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """The loss parts and every parameter's gradient, with torch seeded first (same dropout masks)."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(11)
    parts = model.loss(batch)
    parts["loss"].backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return {key: float(value.detach()) for key, value in parts.items()}, grads


def test_loss_and_gradient_ignore_the_negative_items() -> None:
    model = build()
    parts, grads = loss_and_gradients(model, BATCH)
    for negatives in ([10, 20, 30, 40, 50], [0, 5, 9, 11, 3]):
        other = dataclasses.replace(BATCH, neg_items=torch.tensor(negatives))
        other_parts, other_grads = loss_and_gradients(model, other)
        assert other_parts == parts
        assert other_grads.keys() == grads.keys()
        assert all(torch.equal(other_grads[name], grad) for name, grad in grads.items())
    # The comparison can fail: another dropout draw, or another positive, changes the loss.
    torch.manual_seed(12)
    assert float(model.loss(BATCH)["loss"].detach()) != parts["loss"]
    moved = dataclasses.replace(BATCH, pos_items=torch.tensor([1, 5, 9, 11, 3]))
    assert loss_and_gradients(model, moved)[0]["loss"] != parts["loss"]


def test_loss_parts_are_named_and_add_up() -> None:
    model = build(cl_weight=1.5, reg_weight=0.3)
    torch.manual_seed(0)
    parts = model.loss(BATCH)
    assert set(parts) == {"loss", "rec", "align", "mask", "reg"}
    expected = parts["rec"] + 1.5 * (parts["align"] + parts["mask"]) + parts["reg"]
    assert torch.allclose(parts["loss"], expected)
    assert all(float(parts[key].detach()) > 0 for key in ("rec", "align", "mask", "reg"))


def test_modality_losses_reach_projections_and_predictor_but_not_the_id_embeddings() -> None:
    """Stop-gradient: L_align and L_mask only train the online branch (projections, predictor)."""
    model = build()
    torch.manual_seed(0)
    parts = model.loss(BATCH)
    (parts["align"] + parts["mask"]).backward()
    assert model.user_embedding.weight.grad is None and model.item_embedding.weight.grad is None
    assert model.predictor.weight.grad.abs().sum() > 0
    for modality in model.modality_projections:
        assert modality.projection.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    model.loss(BATCH)["rec"].backward()
    assert all(m.projection.weight.grad is None for m in model.modality_projections)
    assert model.user_embedding.weight.grad.abs().sum() > 0


def test_zero_dropout_targets_are_the_encoder_outputs() -> None:
    """With dropout 0, L_mask compares p(h_i^m) with h_i^m itself: the definition, checked by hand."""
    model = build(dropout=0.0)
    parts = model.loss(BATCH)
    projection = model.modality_projections[0]
    projected = projection(BATCH.pos_items)
    first = 1 - torch.nn.functional.cosine_similarity(model.predictor(projected), projected).mean()
    second = model.modality_projections[1](BATCH.pos_items)
    second = 1 - torch.nn.functional.cosine_similarity(model.predictor(second), second).mean()
    assert torch.allclose(parts["mask"], first + second)


def test_scores_are_products_of_the_online_embeddings() -> None:
    model = build().eval()
    users = torch.tensor([0, 3, 4])
    with torch.no_grad():
        h_u, h_i = model.encode()
        expected = model.predictor(h_u[users]) @ model.predictor(h_i).T
        assert torch.allclose(model.score(users), expected, atol=1e-6)
        # Not the encoder's own products: the predictor is part of the scoring.
        assert not torch.allclose(model.score(users), h_u[users] @ h_i.T, atol=1e-3)


@pytest.mark.parametrize("train_features", [False, True])
def test_raw_features_fixed_or_trained(train_features: bool) -> None:
    model = build(train_features=train_features)
    in_state = any(key.endswith(".features") for key in model.state_dict())
    assert in_state == train_features
    torch.manual_seed(0)
    model.loss(BATCH)["loss"].backward()
    grad = model.modality_projections[0].features.grad
    assert (grad is not None and grad.abs().sum() > 0) == train_features


def test_dataset_presets_hold_the_authors_settings() -> None:
    cls = default_registry().get("bm3")
    assert cls.config_for("sports").reg_weight == 0.01
    assert cls.config_for("elec").n_layers == 2 and cls.config_for("elec").dropout == 0.3
    assert cls.config_for("tiktok") == cls.config_class()


def test_featureless_dataset_is_refused_naming_the_model() -> None:
    dataset = dataclasses.replace(tiny_dataset(), features={})
    cls, config = bm3()
    with pytest.raises(ConfigError, match="bm3"):
        cls(dataset.train_view(), config)


@pytest.mark.parametrize(
    "key, value",
    [
        ("dropout", 1.0),
        ("dropout", -0.1),
        ("n_layers", -1),
        ("embedding_dim", 0),
        ("reg_weight", -1.0),
        ("cl_weight", -0.5),
    ],
)
def test_bad_config_values_are_refused(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        bm3(**{key: value})
