"""Golden tests of the metric registry, protocols and metric keys; expected values are by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mmbench.errors import ConfigError
from mmbench.evaluation.metrics import (
    METRICS,
    CatalogueMetric,
    PerUserMetric,
    metric_names,
    parse_metric_key,
)
from mmbench.evaluation.protocols import PROTOCOLS, get_protocol

STANDARD = get_protocol("standard")
LATTICE = get_protocol("lattice")

# 1/log2(r+1) for r = 1..5: 1, 0.6309298, 0.5, 0.4306766, 0.3868528.
# IDCG over 5 items = 1 + 0.6309298 + 0.5 + 0.4306766 + 0.3868528 = 2.9484591.
# IDCG over 2 items = 1 + 0.6309298 = 1.6309298.  1/log2(31) = 0.2018491.


def _hits(length: int, ranks: list[int]) -> np.ndarray:
    """A one-user hit matrix of ``length`` columns with hits at the given 1-based ranks."""
    row = np.zeros((1, length), dtype=bool)
    row[0, [r - 1 for r in ranks]] = True
    return row


def _value(name: str, hits: np.ndarray, n_relevant: int, k: int, protocol) -> float:
    metric = METRICS[name]
    assert isinstance(metric, PerUserMetric)
    return float(metric(hits, np.array([n_relevant]), k, protocol)[0])


def test_registry_names_and_kinds():
    assert metric_names() == (
        "coverage",
        "gini",
        "hit",
        "map",
        "mrr",
        "ndcg",
        "precision",
        "recall",
    )
    assert {n for n, m in METRICS.items() if isinstance(m, CatalogueMetric)} == {"coverage", "gini"}


# The reference example: |T_u| = 5, hits at ranks 3 and 30, max(Ks) = 50.
EXAMPLE = [
    # (metric, k, standard, lattice)
    ("recall", 20, 0.2, 0.2),  # 1 hit / 5 relevant
    ("recall", 50, 0.4, 0.4),  # 2 / 5
    ("precision", 20, 0.05, 0.05),  # 1 / 20
    ("precision", 50, 0.04, 0.04),  # 2 / 50
    ("hit", 20, 1.0, 1.0),
    # standard: 0.5 / 2.9484591 = 0.1695801; lattice (h = 2): 0.5 / 1.6309298 = 0.3065736
    ("ndcg", 20, 0.1695801, 0.3065736),
    # DCG@50 = 0.5 + 0.2018491 = 0.7018491; / 2.9484591 = 0.2380393; / 1.6309298 = 0.4303368
    ("ndcg", 50, 0.2380393, 0.4303368),
    ("map", 20, 1 / 15, 1 / 15),  # (1/min(5,20)) * (precision@3 = 1/3) = 1/15
    ("map", 50, 0.08, 0.08),  # (1/5) * (1/3 + 2/30) = (1/5) * 0.4
    ("mrr", 20, 1 / 3, 1 / 3),  # first hit at rank 3
    ("mrr", 50, 1 / 3, 1 / 3),
]


@pytest.mark.parametrize("name,k,standard,lattice", EXAMPLE)
def test_reference_example_both_protocols(name, k, standard, lattice):
    hits = _hits(50, [3, 30])
    assert _value(name, hits, 5, k, STANDARD) == pytest.approx(standard, abs=1e-7)
    assert _value(name, hits, 5, k, LATTICE) == pytest.approx(lattice, abs=1e-7)


@pytest.mark.parametrize("protocol", [STANDARD, LATTICE], ids=lambda p: p.name)
def test_single_relevant_item(protocol):
    # |T_u| = 1, hit at rank 2 of max(Ks) = 3; both ideal DCGs cover one item (= 1).
    hits = _hits(3, [2])
    assert _value("recall", hits, 1, 1, protocol) == 0.0
    assert _value("recall", hits, 1, 3, protocol) == 1.0
    assert _value("precision", hits, 1, 3, protocol) == pytest.approx(1 / 3)
    assert _value("hit", hits, 1, 1, protocol) == 0.0
    assert _value("hit", hits, 1, 3, protocol) == 1.0
    assert _value("ndcg", hits, 1, 3, protocol) == pytest.approx(
        0.6309298, abs=1e-7
    )  # 1/log2(3) / 1
    assert _value("map", hits, 1, 3, protocol) == pytest.approx(0.5)  # (1/1) * precision@2
    assert _value("mrr", hits, 1, 3, protocol) == pytest.approx(0.5)


@pytest.mark.parametrize("protocol", [STANDARD, LATTICE], ids=lambda p: p.name)
def test_more_relevant_items_than_k(protocol):
    # |T_u| = 4 > K = 2, hits [0, 1, 0] in the top 3.
    hits = _hits(3, [2])
    assert _value("recall", hits, 4, 2, protocol) == pytest.approx(0.25)  # 1 / 4
    assert _value("precision", hits, 4, 2, protocol) == pytest.approx(0.5)  # 1 / 2
    assert _value("map", hits, 4, 2, protocol) == pytest.approx(0.25)  # (1/min(4,2)) * (1/2)
    assert _value("mrr", hits, 4, 2, protocol) == pytest.approx(0.5)
    # standard: IDCG over min(4, 2) = 2 items: 0.6309298 / 1.6309298 = 0.3868528
    # lattice: h = 1 hit in the top 3, IDCG = 1: 0.6309298
    expected = 0.3868528 if protocol is STANDARD else 0.6309298
    assert _value("ndcg", hits, 4, 2, protocol) == pytest.approx(expected, abs=1e-7)
    # hits [1, 1, 0]: both ideals cover 2 items, so NDCG = 1; MAP = (1/2) * (1/1 + 2/2) = 1.
    full = _hits(3, [1, 2])
    assert _value("ndcg", full, 4, 2, protocol) == pytest.approx(1.0)
    assert _value("map", full, 4, 2, protocol) == pytest.approx(1.0)


@pytest.mark.parametrize("protocol", [STANDARD, LATTICE], ids=lambda p: p.name)
def test_no_hits_give_zero_not_nan(protocol):
    hits = _hits(5, [])
    for name in ("recall", "precision", "hit", "ndcg", "map", "mrr"):
        assert _value(name, hits, 3, 5, protocol) == 0.0


def test_metrics_are_vectorised_over_users():
    hits = np.concatenate([_hits(3, [1]), _hits(3, [2, 3]), _hits(3, [])])
    recall = METRICS["recall"](hits, np.array([1, 4, 2]), 3, STANDARD)
    assert recall.dtype == np.float64
    assert recall.tolist() == pytest.approx([1.0, 0.5, 0.0])  # 1/1, 2/4, 0/2


def test_coverage_and_gini():
    counts = np.array([3, 1, 0, 0])
    assert METRICS["coverage"](counts) == pytest.approx(0.5)  # 2 of 4 items shown
    # sorted [0, 0, 1, 3], coefficients 2i - n - 1 = [-3, -1, 1, 3]: (1*1 + 3*3) / (4 * 4) = 0.625
    assert METRICS["gini"](counts) == pytest.approx(0.625)
    assert METRICS["gini"](np.array([2, 2, 2, 2])) == 0.0  # equal exposure
    # one item shown 6 times out of 4: (3*6) / (4*6) = 0.75 = (n-1)/n, the maximum
    assert METRICS["gini"](np.array([0, 6, 0, 0])) == pytest.approx(0.75)
    assert METRICS["gini"](np.zeros(4, dtype=np.int64)) == 0.0


def test_parse_metric_key():
    assert parse_metric_key("recall@20") == ("recall", 20)
    assert parse_metric_key(" NDCG@10 ") == ("ndcg", 10)
    assert parse_metric_key("gini@5") == ("gini", 5)


def test_unknown_metric_lists_valid_names():
    with pytest.raises(ConfigError) as error:
        parse_metric_key("recal@20")
    assert str(error.value) == (
        "unknown metric 'recal@20'; valid metrics: coverage, gini, hit, map, mrr, ndcg, precision, "
        "recall (as name@K, e.g. recall@20)"
    )


@pytest.mark.parametrize(
    "key", ["recall", "recall@", "recall@0", "recall@x", "@20", "recall@20@3", "recall@-1"]
)
def test_malformed_metric_keys(key):
    with pytest.raises(
        ConfigError, match=r"malformed metric key .*name@K.*valid metrics: coverage, gini"
    ):
        parse_metric_key(key)


def test_protocols():
    assert sorted(PROTOCOLS) == ["lattice", "standard"]
    assert STANDARD.mask_valid_at_test and STANDARD.ndcg_ideal == "relevant"
    assert not LATTICE.mask_valid_at_test and LATTICE.ndcg_ideal == "retrieved"
    assert STANDARD.masked_splits("valid") == ("train",)
    assert STANDARD.masked_splits("test") == ("train", "valid")
    assert LATTICE.masked_splits("test") == ("train",)
    assert get_protocol(LATTICE) is LATTICE
    with pytest.raises(
        ConfigError, match="unknown evaluation protocol 'mmssl'; valid protocols: lattice, standard"
    ):
        get_protocol("mmssl")
    with pytest.raises(ConfigError, match="evaluation splits are: valid, test"):
        STANDARD.masked_splits("train")
