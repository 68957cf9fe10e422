"""The plugin contract: what a model author implements, and nothing more.

A model is a ``torch.nn.Module`` built from a :class:`~mmbench.data.dataset.TrainView` and its
typed config. It implements :meth:`RecModel.loss` for a BPR batch and :meth:`RecModel.score` for
full ranking. Epochs, sampling, evaluation, early stopping and checkpoints belong to the trainer;
a model that needs more than one optimiser may own its step by overriding
:meth:`RecModel.train_step`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Mapping

import torch
from torch import nn

from mmbench.config import TrainConfig, apply_overrides
from mmbench.data.dataset import TrainView
from mmbench.errors import ConfigError
from mmbench.search_space import SearchSpace


@dataclass(frozen=True)
class BprBatch:
    """One batch of (user, positive item, negative item) triples, as int64 tensors on the device."""

    users: torch.Tensor
    pos_items: torch.Tensor
    neg_items: torch.Tensor


Scorer = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AblationVariant:
    """One ablation variant: config overrides, and the feature sets it trains on (None: the run's own)."""

    overrides: Mapping[str, str] = field(default_factory=dict)
    modalities: tuple[str, ...] | None = None


def modality_removal_variants(modalities: tuple[str, ...]) -> dict[str, AblationVariant]:
    """``w/o-<name>``: the run's feature sets less one, for each of them (none with a single one)."""
    if len(modalities) < 2:
        return {}
    return {
        f"w/o-{removed}": AblationVariant(modalities=tuple(m for m in modalities if m != removed))
        for removed in modalities
    }


class RecModel(nn.Module):
    """Base class of every recommender plugin.

    Subclasses set ``config_class`` (a :class:`TrainConfig` subclass with the paper's defaults),
    ``search_space`` (Optuna ranges) and ``needs_features`` (True when the model cannot run
    without at least one feature modality). ``name`` is set by the registry from the entry point
    that declares the class (:mod:`mmbench.models.registry`).
    ``dataset_presets`` maps a dataset name to the config values its authors used there; they
    apply before the user's overrides (:meth:`config_for`).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[TrainConfig]] = TrainConfig
    search_space: ClassVar[SearchSpace] = {}
    needs_features: ClassVar[bool] = False
    dataset_presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    @classmethod
    def config_for(cls, dataset_name: str, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
        """The config of a run on ``dataset_name``: defaults, then the dataset preset, then ``overrides``."""
        config = apply_overrides(cls.config_class(), cls.dataset_presets.get(dataset_name, {}))
        return apply_overrides(config, overrides or {})

    @classmethod
    def ablation_variants(cls, modalities: tuple[str, ...]) -> dict[str, AblationVariant]:
        """Named ablation variants for a run on the feature sets ``modalities``.

        ``mmbench ablate`` runs each of them next to the full model. The default: one variant per
        feature set removed, for a model that uses features; none for an ID-only model.
        """
        return modality_removal_variants(modalities) if cls.needs_features else {}

    def __init__(self, view: TrainView, config: TrainConfig) -> None:
        super().__init__()
        if self.needs_features and not view.features:
            raise ConfigError(
                f"model {self.name!r} needs item features, but the dataset has no modality "
                f"(*_feat.npy files); use a dataset with features or an ID-only model"
            )
        self.config = config
        self.n_users = view.n_users
        self.n_items = view.n_items

    def loss(self, batch: BprBatch) -> dict[str, torch.Tensor]:
        """The training loss of a batch: ``{"loss": total, <part>: value, ...}``."""
        raise NotImplementedError

    def score(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of ``users`` against every item: shape ``[len(users), n_items]``."""
        raise NotImplementedError

    def scorer(self) -> Scorer:
        """A function scoring user batches during one evaluation pass.

        Graph models override this to propagate embeddings once per pass instead of per batch.
        """
        return self.score

    def optimised_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters the trainer's optimiser updates; a model with its own second optimiser
        (an adversarial critic, say) leaves those parameters out."""
        return self.parameters()

    def on_epoch_start(self, epoch: int) -> None:
        """Called by the trainer before each training epoch (numbered from 1).

        For models with a per-epoch schedule, such as LATTICE's learned-graph rebuild; the default
        does nothing.
        """

    def train_step(self, batch: BprBatch, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch; returns the loss parts, detached, for logging.

        The parts stay tensors on the model's device: the trainer sums them there and reads them
        once per epoch, so that a step never waits for the device to report a number.
        """
        optimizer.zero_grad(set_to_none=True)
        parts = self.loss(batch)
        parts["loss"].backward()
        optimizer.step()
        return {key: value.detach() for key, value in parts.items()}


class PropagatedEmbeddingModel(RecModel):
    """A model scoring by dot products of user and item embeddings computed in one pass.

    Graph models implement :meth:`propagate`; scoring then propagates once per evaluation pass
    (not once per user batch) and ranks by ``<e_u, e_i>``.
    """

    def propagate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Final user embeddings ``[n_users, d]`` and item embeddings ``[n_items, d]``."""
        raise NotImplementedError

    def score(self, users: torch.Tensor) -> torch.Tensor:
        return self.scorer()(users)

    def scorer(self) -> Scorer:
        users_all, items_all = self.propagate()
        return lambda users: users_all[users] @ items_all.T


def check_contract(cls: type, name: str) -> None:
    """Raise :class:`TypeError` unless ``cls`` honours the plugin contract: a :class:`RecModel`
    subclass with a :class:`TrainConfig` config class that implements ``loss`` and ``score``."""
    if not (isinstance(cls, type) and issubclass(cls, RecModel)):
        raise TypeError(f"model {name!r}: {cls!r} is not a RecModel subclass")
    if not issubclass(cls.config_class, TrainConfig):
        raise TypeError(f"model {name!r}: {cls.__name__}.config_class must subclass TrainConfig")
    for method in ("loss", "score"):
        if getattr(cls, method) is getattr(RecModel, method):
            raise TypeError(f"model {name!r}: {cls.__name__} must implement {method}()")
