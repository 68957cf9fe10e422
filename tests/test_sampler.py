"""BPR sampling: every training pair once per epoch, negatives never training items."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from mmbench.errors import DataError
from mmbench.training.sampler import BprSampler


def random_train(n_users: int, n_items: int, density: float, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_users, n_items)) < density).astype(np.float32)
    dense[:, 0] = 0  # keep at least one negative for everyone
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_epoch_visits_each_pair_once_and_negatives_are_not_training_items(seed: int) -> None:
    train = random_train(25, 12, 0.6, seed)
    sampler = BprSampler(train, batch_size=7, rng=np.random.default_rng(seed))
    users, pos, neg = (np.concatenate(parts) for parts in zip(*sampler.epoch()))
    assert sorted(zip(users, pos)) == sorted(zip(*train.nonzero()))
    dense = train.toarray()
    assert not dense[users, neg].any()
    assert len(sampler) == -(-train.nnz // 7)


def test_same_seed_same_batches() -> None:
    train = random_train(10, 9, 0.5, 3)
    first = list(BprSampler(train, 4, np.random.default_rng(5)).epoch())
    second = list(BprSampler(train, 4, np.random.default_rng(5)).epoch())
    for a, b in zip(first, second):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_user_with_every_item_has_no_negative() -> None:
    train = sp.csr_matrix(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(DataError, match="every item"):
        BprSampler(train, 2, np.random.default_rng(0))


@pytest.mark.parametrize("seed", [0, 1])
def test_user_batches_hold_distinct_users_with_a_training_positive_each(seed: int) -> None:
    dense = random_train(25, 12, 0.4, seed).toarray()
    dense[3] = 0  # a user without training items is never drawn
    train = sp.csr_matrix(dense)
    sampler = BprSampler(train, batch_size=7, rng=np.random.default_rng(seed), mode="users")
    batches = list(sampler.epoch())
    assert len(batches) == len(sampler) == train.nnz // 7 + 1
    dense = train.toarray()
    for users, pos, neg in batches:
        assert len(users) == 7 and len(set(users.tolist())) == 7
        assert 3 not in users
        assert dense[users, pos].all() and not dense[users, neg].any()
