"""SLMRec: smoke runs with two modalities and with one, reproducibility, the FD/FM augmentations
(training mode only), the SSL weight, FAC's chain of spaces, and config validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mmbench.config import TrainConfig, apply_overrides
from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError
from mmbench.models import BprBatch, RecModel, default_registry
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
from synthetic import tiny_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

BATCH = BprBatch(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 5, 9, 11]), torch.tensor([1, 2, 3, 4]))


def two_modalities() -> Dataset:
    """``tiny_dataset`` with an 8-d ``image`` and a 5-d ``audio`` modality."""
    return tiny_dataset(audio_dim=5)


def slmrec(**overrides: object) -> tuple[type[RecModel], TrainConfig]:
    """The registered SLMRec class and its default config with a small batch and ``overrides``."""
    cls = default_registry().get("slmrec")
    return cls, dataclasses.replace(cls.config_class(), batch_size=32, **overrides)


def build(dataset: Dataset, seed: int = 0, **overrides: object) -> RecModel:
    cls, config = slmrec(**overrides)
    seed_everything(seed)
    return cls(dataset.train_view(), config)


def fit(dataset: Dataset, seed: int, **overrides: object) -> dict[str, float]:
    """Test metrics of a 2-epoch run, checking the run's shape on the way."""
    cls, config = slmrec(epochs=2, **overrides)
    seed_everything(seed)
    model = cls(dataset.train_view(), config)
    outcome = Trainer(model, dataset, config, "standard", torch.device("cpu"), seed=seed).fit()
    assert outcome.epochs_run == 2 and len(outcome.history) == 2
    assert np.isfinite(outcome.history[-1]["loss"])
    assert 0.0 <= outcome.test.metrics["recall@20"] <= 1.0
    return outcome.test.metrics


@pytest.mark.parametrize("task", ["FAC", "FD", "FM", "FD+FM"])
def test_two_epoch_smoke_run_with_two_modalities(task: str) -> None:
    fit(two_modalities(), seed=0, ssl_task=task)


@pytest.mark.parametrize("main_loss", ["infonce", "bpr"])
def test_two_epoch_smoke_run_with_one_modality(main_loss: str) -> None:
    dataset = tiny_dataset()
    assert dataset.train_view().modalities == ("image",)
    fit(dataset, seed=0, main_loss=main_loss)


@pytest.mark.parametrize("task", ["FAC", "FD+FM"])
def test_same_seed_same_metrics(task: str) -> None:
    dataset = two_modalities()
    assert fit(dataset, seed=3, ssl_task=task) == fit(dataset, seed=3, ssl_task=task)


def views_equal(first: tuple[torch.Tensor, ...], second: tuple[torch.Tensor, ...]) -> bool:
    return all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize("task", ["FD", "FM", "FD+FM"])
def test_augmentations_change_the_views_in_training_mode_only(task: str) -> None:
    model = build(two_modalities(), ssl_task=task)
    model.train()
    first, second = model.augmented_views(BATCH.users, BATCH.pos_items)
    assert not views_equal(first, second)
    model.eval()
    with torch.no_grad():
        first, second = model.augmented_views(BATCH.users, BATCH.pos_items)
        users, items = model.propagate()
    assert views_equal(first, second)
    assert torch.allclose(first[0], users[BATCH.users], atol=1e-6)
    assert torch.allclose(first[1], items[BATCH.pos_items], atol=1e-6)
    # Scoring is deterministic in eval mode, whatever the task's augmentation.
    assert torch.equal(model.score(BATCH.users), model.score(BATCH.users))


def test_feature_dropout_rate_zero_leaves_the_views_equal() -> None:
    model = build(two_modalities(), ssl_task="FD", dropout_rate=0.0)
    model.train()
    first, second = model.augmented_views(BATCH.users, BATCH.pos_items)
    assert views_equal(first, second)


def test_feature_masking_zeroes_one_views_item_inputs() -> None:
    model = build(two_modalities(), ssl_task="FM")
    inputs = model.modality_inputs()
    dim = model.config.embedding_dim
    layer0 = model.layer_zero(inputs, masked_view=1)
    items = layer0[model.n_users :]
    assert not items[:, dim : 2 * dim].any()
    assert torch.equal(items[:, :dim], inputs[0]) and torch.equal(items[:, 2 * dim :], inputs[2])
    # Users keep their embeddings in every view, masked or not.
    assert torch.equal(layer0[: model.n_users, dim : 2 * dim], model.user_embedding.weight)


def test_ssl_part_is_absent_with_weight_zero() -> None:
    dataset = two_modalities()
    off = build(dataset, ssl_alpha=0.0)
    parts = off.loss(BATCH)
    assert set(parts) == {"loss", "main"} and torch.equal(parts["loss"], parts["main"])
    parts["loss"].backward()
    assert all(p.grad is None for p in off.fac.parameters())
    on = build(dataset, ssl_alpha=0.1)
    parts = on.loss(BATCH)
    assert set(parts) == {"loss", "main", "ssl"} and parts["ssl"] > 0
    assert torch.allclose(parts["main"], off.loss(BATCH)["main"])
    parts["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in on.fac.parameters())


def test_gradients_reach_every_modality_projection_and_the_fusion() -> None:
    model = build(two_modalities())
    model.loss(BATCH)["loss"].backward()
    for layer in [*model.projections, model.user_fusion, model.item_fusion]:
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_fac_chain_order_and_widths() -> None:
    dataset = two_modalities()  # modalities sorted: audio (view 1), image (view 2)
    assert build(dataset).fac_views == (1, 2)
    model = build(dataset, fac_order="image, audio")
    assert model.fac_views == (2, 1)
    assert [m.out_features for m in model.fac.id_maps] == [64, 32]
    assert [m.out_features for m in model.fac.modality_maps] == [64, 32]
    # Names the run does not use are skipped: the TikTok preset survives dropping a modality.
    one = build(tiny_dataset(), fac_order="text,image,audio")
    assert one.fac_views == (1,) and [m.out_features for m in one.fac.id_maps] == [64]


def test_tiktok_preset_orders_fac_as_the_authors_code() -> None:
    cls = default_registry().get("slmrec")
    assert cls.config_for("tiktok").fac_order == "image,audio"
    assert cls.config_for("lfm2k").fac_order == ""


def test_unknown_ssl_task_is_refused_listing_the_valid_ones() -> None:
    cls = default_registry().get("slmrec")
    with pytest.raises(ConfigError) as error:
        apply_overrides(cls.config_class(), {"ssl_task": "SGL"})
    message = str(error.value)
    assert "\n" not in message and "'SGL'" in message
    assert all(task in message for task in ("FAC", "FD", "FM", "FD+FM"))


@pytest.mark.parametrize(
    "key, value",
    [
        ("main_loss", "softmax"),
        ("temp", "0"),
        ("ssl_temp", "-0.2"),
        ("ssl_alpha", "-1"),
        ("dropout_rate", "1.0"),
        ("embedding_dim", "1"),
        ("n_layers", "-1"),
    ],
)
def test_bad_values_are_refused_naming_the_key(key: str, value: str) -> None:
    cls = default_registry().get("slmrec")
    with pytest.raises(ConfigError, match=key):
        apply_overrides(cls.config_class(), {key: value})


def test_featureless_dataset_is_refused_naming_the_model() -> None:
    dataset = dataclasses.replace(tiny_dataset(), features={})
    cls, config = slmrec()
    with pytest.raises(ConfigError, match="slmrec"):
        cls(dataset.train_view(), config)


def test_ablation_variants_cover_ssl_tasks_and_modalities() -> None:
    cls = default_registry().get("slmrec")
    variants = cls.ablation_variants(("audio", "image"))
    assert set(variants) == {"w/o-ssl", "ssl-FD", "ssl-FM", "ssl-FD+FM", "w/o-audio", "w/o-image"}
    for variant in variants.values():
        apply_overrides(cls.config_class(), variant.overrides)
