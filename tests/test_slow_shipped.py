"""Long checks on the shipped data: `python -m pytest -m slow`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mmbench.data.loading import load_dataset
from mmbench.evaluation.evaluator import evaluate_score_matrix
from mmbench.models.registry import default_registry
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import Trainer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiktok():
    return load_dataset("tiktok", warn=False)


def test_lightgcn_learns_on_tiktok_within_ten_epochs(tiktok) -> None:
    """Ten epochs of LightGCN reach well above popularity level on TikTok validation.

    Full runs reach about 0.08 valid recall@20 (results/reproduction.md); after ten epochs a
    correct pipeline is already above 0.05, while a broken graph or sampler stays near 0.01.
    """
    cls = default_registry().get("lightgcn")
    config = dataclasses.replace(cls.config_class(), epochs=10, eval_every=10)
    seed_everything(1)
    outcome = Trainer(cls(tiktok.train_view(), config), tiktok, config, "lattice", torch.device("cpu"), 1).fit()
    assert outcome.valid.metrics["recall@20"] > 0.05


def test_popularity_scores_on_tiktok_match_a_per_user_count(tiktok) -> None:
    """Scoring by training popularity: hit@50 equals a per-user count done with numpy sets."""
    popularity = np.asarray(tiktok.train.sum(axis=0)).ravel().astype(np.float32)
    scores = np.broadcast_to(popularity, (tiktok.n_users, tiktok.n_items))
    result = evaluate_score_matrix(scores, tiktok, "test", "lattice")
    order = sorted(range(tiktok.n_items), key=lambda item: (-popularity[item], item))
    hits = []
    for user in result.users:
        seen = set(tiktok.train[user].indices)
        top = [item for item in order if item not in seen][:50]
        hits.append(bool(set(top) & set(tiktok.test[user].indices)))
    assert result.metrics["hit@50"] == pytest.approx(np.mean(hits))
