"""Typed configs: overrides are coerced, typos and bad values are errors that list valid keys."""

from __future__ import annotations

import pytest

from baselines.lightgcn import LightGCNConfig
from mmbench.config import TrainConfig, apply_overrides, config_hash, parse_assignments
from mmbench.errors import ConfigError


def test_overrides_are_coerced_to_declared_types() -> None:
    config = apply_overrides(LightGCNConfig(), {"lr": "0.005", "n_layers": "2", "epochs": "1e2"})
    assert config.lr == 0.005 and config.n_layers == 2 and config.epochs == 100


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'n_layer'.*valid keys: .*n_layers"):
        apply_overrides(LightGCNConfig(), {"n_layer": "2"})


def test_wrong_type_names_key_and_type() -> None:
    with pytest.raises(ConfigError, match="'n_layers' expects a int, got '2.5'"):
        apply_overrides(LightGCNConfig(), {"n_layers": "2.5"})


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown optimizer 'adagrad'"):
        TrainConfig(optimizer="adagrad")
    with pytest.raises(ConfigError, match="'batch_size' must be at least 1"):
        TrainConfig(batch_size=0)


def test_parse_assignments() -> None:
    assert parse_assignments(["lr=0.1", "n_layers = 2"]) == {"lr": "0.1", "n_layers": " 2"}
    with pytest.raises(ConfigError, match="--set expects key=value"):
        parse_assignments(["lr"])


def test_config_hash_changes_with_values() -> None:
    assert config_hash(LightGCNConfig()) == config_hash(LightGCNConfig())
    assert config_hash(LightGCNConfig()) != config_hash(LightGCNConfig(lr=0.01))
