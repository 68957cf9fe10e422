"""LGMRec: smoke runs with one and two modalities, reproducibility, the hyperedge count, the
contrastive term's switch, the hypergraph and modality-graph equations against a dense reference,
deterministic evaluation, ablation variants and config validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmbench.config import apply_overrides
from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError
from mmbench.models import BprBatch, RecModel, default_registry
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer
from synthetic import tiny_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

BATCH = BprBatch(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 5, 9, 11]), torch.tensor([1, 2, 3, 4]))


def two_modalities() -> Dataset:
    return tiny_dataset(audio_dim=5)


def build(dataset: Dataset, seed: int = 0, **overrides: object) -> RecModel:
    cls = default_registry().get("lgmrec")
    config = apply_overrides(cls.config_class(), {"batch_size": 32, **overrides})
    seed_everything(seed)
    return cls(dataset.train_view(), config)


def fit(dataset: Dataset, seed: int) -> tuple[dict[str, float], list[dict[str, float]]]:
    model = build(dataset, seed, epochs=2, eval_every=1)
    outcome = Trainer(model, dataset, model.config, "standard", torch.device("cpu"), seed=seed).fit()
    assert outcome.epochs_run == 2 and len(outcome.history) == 2
    assert np.isfinite(outcome.history[-1]["loss"])
    assert 0.0 <= outcome.test.metrics["recall@20"] <= 1.0
    return outcome.test.metrics, outcome.history


def test_two_epoch_smoke_run_with_two_modalities() -> None:
    _, history = fit(two_modalities(), seed=0)
    assert all(row["hcl"] > 0 for row in history)


def test_two_epoch_smoke_run_with_one_modality_has_no_contrastive_term() -> None:
    dataset = tiny_dataset()
    assert dataset.train_view().modalities == ("image",)
    _, history = fit(dataset, seed=0)
    assert all("hcl" not in row for row in history)


def test_same_seed_same_metrics() -> None:
    dataset = two_modalities()
    assert fit(dataset, seed=3)[0] == fit(dataset, seed=3)[0]


@pytest.mark.parametrize("n_hyperedges", [4, 7])
def test_dependency_matrices_have_one_column_per_hyperedge(n_hyperedges: int) -> None:
    dataset = two_modalities()
    model = build(dataset, n_hyperedges=n_hyperedges)
    dependencies = model.hyperedge_dependencies()
    assert len(dependencies) == len(model.branches) == 2
    for (users, items), branch in zip(dependencies, model.branches):
        assert users.shape == (dataset.n_users, n_hyperedges)
        assert items.shape == (dataset.n_items, n_hyperedges)
        assert branch.hyperedges.shape == (n_hyperedges, branch.features.shape[1])
        # Soft assignments: each row is a distribution over the hyperedges.
        assert torch.allclose(users.sum(1), torch.ones(dataset.n_users), atol=1e-5)
        assert torch.allclose(items.sum(1), torch.ones(dataset.n_items), atol=1e-5)


def test_contrastive_term_is_absent_at_weight_zero_and_present_otherwise() -> None:
    dataset = two_modalities()
    off = build(dataset, cl_weight=0.0).loss(BATCH)
    assert "hcl" not in off
    assert torch.allclose(off["loss"], off["bpr"] + off["reg"])
    on = build(dataset, cl_weight=0.01).loss(BATCH)
    assert on["hcl"] > 0
    assert torch.allclose(on["loss"], on["bpr"] + on["reg"] + 0.01 * on["hcl"])


@pytest.mark.parametrize("cl_weight, reaches_hyperedges", [(0.0, False), (1e-3, True)])
def test_without_alpha_only_the_contrastive_loss_trains_the_hyperedges(
    cl_weight: float, reaches_hyperedges: bool
) -> None:
    model = build(two_modalities(), alpha=0.0, cl_weight=cl_weight)
    model.loss(BATCH)["loss"].backward()
    for branch in model.branches:
        reached = branch.hyperedges.grad is not None and branch.hyperedges.grad.abs().sum() > 0
        assert reached == reaches_hyperedges
        assert branch.projection.grad.abs().sum() > 0


def test_one_modality_has_no_contrastive_term_whatever_its_weight() -> None:
    parts = build(tiny_dataset(), cl_weight=0.5).loss(BATCH)
    assert "hcl" not in parts and torch.allclose(parts["loss"], parts["bpr"] + parts["reg"])


def test_evaluation_embeddings_match_a_dense_reference() -> None:
    """Eval mode (no Gumbel noise, no dropout): the final embeddings follow the paper's equations,
    written here with dense matrices. Users 0-9 lose a training item, so that degrees differ
    (a sum instead of the users' mean of their items' features would then show)."""
    dataset = two_modalities()
    train = dataset.train.tolil()
    for user in range(10):
        train[user, train.rows[user][0]] = 0
    dataset = dataclasses.replace(dataset, train=train.tocsr())
    dataset.train.eliminate_zeros()
    model = build(dataset, keep_rate=0.5, n_hyper_layers=2, n_mm_layers=1, n_ui_layers=2).eval()
    with torch.no_grad():
        users, items = model.propagate()
        R = torch.from_numpy(dataset.train.toarray()).float()
        n_users, n_items = R.shape
        A = torch.zeros(n_users + n_items, n_users + n_items)
        A[:n_users, n_users:], A[n_users:, :n_users] = R, R.T
        degree = A.sum(1)
        d = torch.where(degree > 0, degree.clamp_min(1).rsqrt(), 0.0)  # items without training users
        A_hat = d[:, None] * A * d[None, :]
        E = torch.cat([model.user_embedding.weight, model.item_embedding.weight])
        E_id = (E + A_hat @ E + A_hat @ A_hat @ E) / 3
        expected = E_id.clone()
        hyper_total = torch.zeros_like(E_id)
        for branch in model.branches:
            projected = branch.features @ branch.projection
            local = A_hat @ torch.cat([(R @ projected) / R.sum(1, keepdim=True), projected])
            expected += F.normalize(local, dim=1)
            logits = branch.features @ branch.hyperedges.T
            H_i = torch.softmax(logits / 0.2, dim=1)
            H_u = torch.softmax(R @ logits / 0.2, dim=1)
            first = H_i @ (H_i.T @ E_id[n_users:])
            hyper_total += torch.cat([H_u @ (H_i.T @ first), H_i @ (H_i.T @ first)])
        expected += 0.3 * F.normalize(hyper_total, dim=1)
    assert torch.allclose(users, expected[:n_users], atol=1e-4)
    assert torch.allclose(items, expected[n_users:], atol=1e-4)


def test_evaluation_is_deterministic_and_training_is_stochastic() -> None:
    model = build(two_modalities())
    model.eval()
    with torch.no_grad():
        assert torch.equal(model.propagate()[0], model.propagate()[0])
    model.train()
    with torch.no_grad():
        assert not torch.equal(model.propagate()[0], model.propagate()[0])


def test_without_local_modality_and_global_module_it_is_lightgcn() -> None:
    model = build(two_modalities(), local_modality=False, alpha=0.0, cl_weight=0.0).eval()
    with torch.no_grad():
        users, items = model.propagate()
        collaborative = model.collaborative_embeddings()
    assert torch.equal(torch.cat([users, items]), collaborative)


def test_ablation_variants_build_valid_configs() -> None:
    cls = default_registry().get("lgmrec")
    variants = cls.ablation_variants(("audio", "image"))
    assert {"w/o-global", "w/o-hcl", "w/o-local-modality", "w/o-audio", "w/o-image"} == set(variants)
    for variant in variants.values():
        apply_overrides(cls.config_class(), variant.overrides)
    assert "w/o-hcl" not in cls.ablation_variants(("image",))


def test_featureless_dataset_is_refused_by_name() -> None:
    dataset = dataclasses.replace(tiny_dataset(), features={})
    cls = default_registry().get("lgmrec")
    with pytest.raises(ConfigError, match="model 'lgmrec' needs item features"):
        cls(dataset.train_view(), cls.config_class())


@pytest.mark.parametrize(
    "key, value",
    [
        ("n_hyperedges", 0),
        ("n_hyper_layers", 0),
        ("keep_rate", 0.0),
        ("keep_rate", 1.5),
        ("temperature", 0.0),
        ("alpha", -0.1),
        ("cl_weight", -1.0),
        ("n_mm_layers", -1),
        ("embedding_dim", 0),
    ],
)
def test_bad_config_values_are_refused_naming_the_key(key: str, value: object) -> None:
    cls = default_registry().get("lgmrec")
    with pytest.raises(ConfigError, match=f"'{key}'"):
        apply_overrides(cls.config_class(), {key: value})
