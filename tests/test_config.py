"""Typed configs: overrides are coerced, typos and bad values are errors that list valid keys."""

from __future__ import annotations

import importlib

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


@pytest.mark.parametrize(
    ("model_config", "key", "value", "message"),
    [
        ("baselines.ngcf:NGCFConfig", "mess_dropout", 1.0, "'mess_dropout' is a dropout ratio and must be in \\[0, 1\\)"),
        ("baselines.bm3:BM3Config", "dropout", -0.1, "'dropout' is a dropout ratio and must be in \\[0, 1\\)"),
        ("baselines.slmrec:SLMRecConfig", "ssl_temp", 0.0, "'ssl_temp' must be positive, got 0.0"),
        ("baselines.mgcn:MGCNConfig", "cl_temperature", -1.0, "'cl_temperature' must be positive"),
        ("baselines.lgmrec:LGMRecConfig", "temperature", 0.0, "'temperature' must be positive"),
        ("mmssl.config:MMSSLConfig", "d_dropout2", 1.5, "'d_dropout2' is a dropout ratio and must be in \\[0, 1\\)"),
        ("mmssl.config:MMSSLConfig", "cl_tau", 0.0, "'cl_tau' must be positive, got 0.0"),
        ("baselines.slmrec:SLMRecConfig", "embedding_dim", 1, "'embedding_dim' must be at least 2, got 1"),
    ],
)
def test_shared_range_checks_name_the_key(model_config: str, key: str, value: float, message: str) -> None:
    """The dropout and positivity checks shared by the models' configs refuse out-of-range values
    in one line naming the key, and accept the defaults."""
    module_name, class_name = model_config.split(":")
    config_class = getattr(importlib.import_module(module_name), class_name)
    config_class()
    with pytest.raises(ConfigError, match=message):
        apply_overrides(config_class(), {key: value})
