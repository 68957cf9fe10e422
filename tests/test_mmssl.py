"""MMSSL: smoke runs of every variant, generated graphs, the critic's fast path against the dense
one, the gradient penalty against finite differences, and CPU reproducibility."""

from __future__ import annotations

import dataclasses
import numpy as np
import pytest
import torch

from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError
from mmbench.models import BprBatch, default_registry
from mmbench.training.reproducibility import seed_everything
from mmbench.training.sampler import BprSampler
from mmbench.training.trainer import Trainer, build_optimizer
from mmssl import rows as R
from mmssl.discriminator import Discriminator, symmetric_gram
from mmssl.generated_graphs import GeneratedGraph, assigned_items
from mmssl.model import MMSSL
from synthetic import tiny_dataset

VARIANTS = sorted(MMSSL.ablation_variants(("audio", "image")))


pytestmark = pytest.mark.usefixtures("one_thread")


def dataset() -> Dataset:
    return tiny_dataset(audio_dim=5)


def small(name: str, **overrides: object) -> object:
    cls = default_registry().get(name)
    values = {"epochs": 2, "batch_size": 16, "m_topk_rate": 0.05, **overrides}
    return cls, cls.config_for("tiny", {k: str(v) for k, v in values.items()})


def fit(name: str, seed: int = 0, modalities: tuple[str, ...] | None = None, **overrides: object) -> dict[str, float]:
    data = dataset().with_modalities(modalities)
    cls, config = small(name, **overrides)
    seed_everything(seed)
    model = cls(data.train_view(), config)
    outcome = Trainer(model, data, config, "standard", torch.device("cpu"), seed).fit()
    assert outcome.epochs_run == 2
    return outcome.test.metrics


@pytest.mark.parametrize("name", ["mmssl", "mmssl-official"])
def test_smoke_run_learns_finite_metrics(name: str) -> None:
    metrics = fit(name)
    assert 0.0 <= metrics["recall@20"] <= 1.0 and np.isfinite(metrics["ndcg@20"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_ablation_variant_runs(variant: str) -> None:
    chosen = MMSSL.ablation_variants(("audio", "image"))[variant]
    metrics = fit("mmssl", modalities=chosen.modalities, **chosen.overrides)
    assert np.isfinite(metrics["recall@20"])


@pytest.mark.parametrize("name", ["mmssl", "mmssl-official"])
def test_same_seed_same_cpu_result(name: str) -> None:
    assert fit(name, seed=3) == fit(name, seed=3)


def test_official_variant_differs_from_paper_only_in_named_switches() -> None:
    from mmssl.config import MMSSLConfig, OfficialMMSSLConfig

    paper, official = dataclasses.asdict(MMSSLConfig()), dataclasses.asdict(OfficialMMSSLConfig())
    differing = {key for key in paper if paper[key] != official[key]}
    assert differing == {
        "optimizer", "weight_decay", "graph_schedule", "topk_pairing", "fusion", "d_negative_slope",
        "critic_output", "graph_norm", "last_layer_softmax",
    }


def test_tiktok_preset_applies_before_user_overrides() -> None:
    config = MMSSL.config_for("tiktok", {"lr": "0.001"})
    assert config.g_rate == 1.8e-3 and config.real_data_tau == 0.002 and config.lr == 0.001
    assert MMSSL.config_for("baby").g_rate == 1e-4


def test_zero_attention_heads_is_refused_in_one_line_not_divided_by() -> None:
    with pytest.raises(ConfigError, match="config key 'attention_heads' must be at least 1, got 0"):
        MMSSL.config_for("lfm2k", {"attention_heads": "0"})


def test_featureless_dataset_is_refused_and_a_modality_variant_sees_one_modality() -> None:
    data = dataset()
    bare = dataclasses.replace(data, features={})
    cls, config = small("mmssl")
    with pytest.raises(ConfigError, match="'mmssl' needs item features"):
        cls(bare.train_view(), config)
    without_audio = MMSSL.ablation_variants(data.modalities)["w/o-audio"]
    assert without_audio.modalities == ("image",) and not without_audio.overrides
    assert cls(data.with_modalities(without_audio.modalities).train_view(), config).modalities == ("image",)


# ----- generated graphs --------------------------------------------------------------------------


def trained_model(name: str, batches: int = 3, **overrides: object) -> MMSSL:
    data = dataset()
    cls, config = small(name, **overrides)
    seed_everything(0)
    model = cls(data.train_view(), config)
    optimizer = build_optimizer(model, config)
    sampler = BprSampler(data.train, config.batch_size, np.random.default_rng(0), config.sampling)
    for _, (users, pos, neg) in zip(range(batches), sampler.epoch()):
        model.train_step(BprBatch(*(torch.from_numpy(a) for a in (users, pos, neg))), optimizer)
    return model


def test_rolling_graphs_are_never_empty_and_pair_users_with_their_own_topk() -> None:
    model = trained_model("mmssl", batches=4)
    forward = model.forward_pass()
    for modality, graph in model.graphs.items():
        users, items = graph.pairs
        assert graph.n_edges() > 0
        assert set(np.unique(users)) == set(range(model.n_users)) - set(np.flatnonzero(model.train_indptr.diff().numpy() == 0))
        seen = np.flatnonzero(graph.seen)
        assert len(seen) > 0
        user = int(seen[0])
        linked = sorted(items[users == user].tolist())
        assert linked == sorted(graph.latest[user].tolist())
        assert len(linked) == model.topk
        scores = (forward.feature_users[modality][user] @ forward.feature_items[modality].T).detach()
        assert torch.isfinite(scores).all()


def test_topk_lists_are_each_users_own_best_unobserved_items() -> None:
    topk = torch.tensor([[1, 2], [3, 4], [5, 6]])
    assert assigned_items(topk, "own").tolist() == [[1, 2], [3, 4], [5, 6]]
    # the code tiles the user list: pair t joins users[t mod B] with flat[t]
    assert assigned_items(topk, "official").tolist() == [[1, 4], [2, 5], [3, 6]]


def test_official_schedule_empties_the_graph_with_t_equal_one() -> None:
    data = dataset()
    graph = GeneratedGraph(data.train, 2, "official", "own", 1, "row")
    users = torch.tensor([0, 1])
    graph.update(0, users, torch.tensor([[5, 6], [7, 8]]))
    assert graph.n_edges() == data.train.nnz  # still the interaction graph
    graph.update(1, users, torch.tensor([[9, 10], [11, 12]]))
    assert sorted(zip(*graph.pairs)) == [(0, 5), (0, 6), (1, 7), (1, 8)]
    graph.update(2, users, torch.tensor([[9, 10], [11, 12]]))
    assert graph.n_edges() == 0


def test_graph_state_round_trips_through_the_model_state_dict() -> None:
    model = trained_model("mmssl-official", batches=1)
    clone = trained_model("mmssl-official", batches=0)
    clone.load_state_dict(model.state_dict())
    for modality in model.graphs:
        assert all(np.array_equal(a, b) for a, b in zip(model.graphs[modality].pairs, clone.graphs[modality].pairs))
    assert clone.batch_index == model.batch_index


# ----- critic: fast path against dense, gradient penalty --------------------------------------


def random_block(n_items: int, users: torch.Tensor, data: Dataset, seed: int, with_values: bool) -> R.RowBlock:
    generator = torch.Generator().manual_seed(seed)
    indptr = torch.from_numpy(data.train.indptr.astype(np.int64))
    indices = torch.from_numpy(data.train.indices.astype(np.int64))
    entries = R.train_entries(indptr, indices, users)
    a = torch.randn(len(users), 4, generator=generator, dtype=torch.float64)
    v = torch.randn(n_items, 4, generator=generator, dtype=torch.float64)
    values = torch.rand(len(entries.cols), generator=generator, dtype=torch.float64) if with_values else None
    return R.normalised_block((a,), (v,), entries, values)


def test_factored_rows_equal_their_dense_form_and_are_unit_norm() -> None:
    data = dataset()
    users = torch.tensor([0, 3, 7, 11])
    block = random_block(data.n_items, users, data, 0, with_values=True)
    dense = block.dense()
    assert torch.allclose(dense.norm(dim=1), torch.ones(4, dtype=torch.float64))
    train = torch.from_numpy(data.train.toarray()).double()[users]
    expected = (block.user_factors[0] @ block.item_factors[0].T) * (1 - train)
    expected[train.bool()] = block.train_values
    assert torch.allclose(dense, torch.nn.functional.normalize(expected, dim=1))


def test_gumbel_real_rows_match_the_dense_definition() -> None:
    data = dataset()
    users = torch.tensor([1, 2, 5])
    ui = random_block(data.n_items, users, data, 1, with_values=False)
    noise = R.gumbel_noise(len(ui.entries.cols), torch.device("cpu")).double()
    for tau in (0.002, 0.5):
        factored = R.gumbel_real_rows(ui, noise, tau, 1e-5, 100.0).dense()
        dense = R.dense_gumbel_real_rows(ui.dense(), ui.entries, noise, tau, 1e-5, 100.0)
        assert torch.allclose(factored, dense, rtol=1e-9, atol=1e-12)


def critic(n_items: int, slope: float, bounded: bool) -> Discriminator:
    torch.manual_seed(0)
    return Discriminator(n_items, 0.0, 0.0, slope, bounded).double()


@pytest.mark.parametrize("slope,bounded", [(0.2, False), (1.0, True)])
def test_fast_critic_equals_dense_critic_in_value_gradient_and_penalty(slope: float, bounded: bool) -> None:
    data = dataset()
    users = torch.arange(12)
    real = random_block(data.n_items, users, data, 2, with_values=True)
    fake = random_block(data.n_items, users, data, 3, with_values=False)
    mix = torch.rand(12, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    results = []
    for as_dense in (False, True):
        model = critic(data.n_items, slope, bounded)
        if as_dense:
            rows = torch.cat([real.dense(), fake.dense()])
            penalty = model.gradient_penalty(mix * real.dense() + (1.0 - mix) * fake.dense())
        else:
            rows = [real, fake]
            real_hidden, fake_hidden = model.first_layer([real, fake]).split([12, 12])
            penalty = model.penalty_at(mix * real_hidden + (1.0 - mix) * fake_hidden)
        loss = model(rows).mean() + 0.3 * penalty
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (fast_loss, fast_grads), (dense_loss, dense_grads) = results
    assert torch.allclose(fast_loss, dense_loss, rtol=1e-10)
    # Biases feeding a normalisation have an exactly-zero gradient, which float64 round-off leaves at
    # about 1e-13 in either path; the absolute tolerance is therefore set against the largest gradient.
    scale = max(float(grad.abs().max()) for grad in dense_grads.values())
    for name, grad in dense_grads.items():
        assert torch.allclose(fast_grads[name], grad, rtol=1e-8, atol=1e-12 * scale), name


@pytest.mark.parametrize("rows,cols,blocks", [(1, 5, 4), (3, 7, 4), (10, 4, 3), (13, 9, 1), (17, 30, 4)])
def test_symmetric_gram_equals_the_full_product(rows: int, cols: int, blocks: int) -> None:
    weight = torch.randn(rows, cols, dtype=torch.float64, generator=torch.Generator().manual_seed(rows))
    assert torch.allclose(symmetric_gram(weight, blocks), weight @ weight.T, rtol=1e-12, atol=1e-12)


def test_gradients_reach_generator_factors_through_the_fast_critic() -> None:
    data = dataset()
    users = torch.arange(6)
    indptr = torch.from_numpy(data.train.indptr.astype(np.int64))
    indices = torch.from_numpy(data.train.indices.astype(np.int64))
    entries = R.train_entries(indptr, indices, users)
    a = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    v = torch.randn(data.n_items, 3, dtype=torch.float64, requires_grad=True)
    model = critic(data.n_items, 0.2, False)
    model([R.score_rows(a, v, entries)]).sum().backward()
    a_fast, v_fast = a.grad.clone(), v.grad.clone()
    a.grad = v.grad = None
    model(R.dense_score_rows(a, v, entries)).sum().backward()
    assert torch.allclose(a_fast, a.grad) and torch.allclose(v_fast, v.grad)


def test_gradient_penalty_matches_finite_differences() -> None:
    n_items = 16
    model = critic(n_items, 0.2, False)
    x = torch.randn(5, n_items, dtype=torch.float64)
    penalty = model.gradient_penalty(x)
    step, norms = 1e-6, []
    for row in range(5):
        gradient = torch.zeros(n_items, dtype=torch.float64)
        for j in range(n_items):
            shift = torch.zeros_like(x)
            shift[row, j] = step
            with torch.no_grad():
                gradient[j] = (model(x + shift).sum() - model(x - shift).sum()) / (2 * step)
        norms.append(gradient.norm())
    expected = (torch.stack(norms) - 1).square().mean()
    assert torch.allclose(penalty, expected, rtol=1e-6)


def test_real_rows_in_the_model_match_dense_rows_for_a_batch() -> None:
    data = dataset()
    fast = trained_model("mmssl", batches=0)
    users = torch.arange(10)
    entries = R.train_entries(fast.train_indptr, fast.train_indices, users)
    forward = fast.forward_pass()
    torch.manual_seed(5)
    factored = fast._real_rows(forward, users, entries).dense()
    dense_model = trained_model("mmssl", batches=0, discriminator_input="dense")
    dense_model.load_state_dict(fast.state_dict())
    torch.manual_seed(5)
    dense = dense_model._real_rows(forward, users, entries)
    assert torch.allclose(factored, dense, atol=1e-6)
    assert data.n_items == dense.shape[1]


def test_training_step_matches_the_dense_reference() -> None:
    """Same batch, same start: the critic's and the model's losses and gradients agree.

    Parameters after several Adam steps are not compared: Adam turns float noise in a gradient
    that is zero in exact arithmetic (a bias in front of batch normalisation) into a full step.
    """
    results = []
    for mode in ("factored", "dense"):
        model = trained_model("mmssl", batches=1, discriminator_input=mode)
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append(grads)
    fast, dense = results
    assert fast.keys() == dense.keys() and any(n.startswith("discriminator.") for n in fast)
    for name, grad in dense.items():
        error = (fast[name] - grad).norm()
        assert error <= 1e-4 * grad.norm() + 1e-7, (name, float(error), float(grad.norm()))
