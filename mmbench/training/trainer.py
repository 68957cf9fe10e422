"""The shared BPR training loop: epochs, validation, early stopping, checkpoints, one test pass.

Model selection reads validation only; the test split is evaluated once, on the restored best
checkpoint, after training has ended.
"""

from __future__ import annotations

import copy
import io
import math
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from mmbench.atomic import write_bytes_atomic
from mmbench.config import DEFAULT_KS, TrainConfig
from mmbench.data.dataset import Dataset
from mmbench.errors import ConfigError, TrainingError
from mmbench.evaluation.evaluator import EvalResult, Evaluator
from mmbench.evaluation.metrics import parse_metric_key
from mmbench.evaluation.protocols import get_protocol
from mmbench.models.base import BprBatch, RecModel
from mmbench.progress import TrainingProgress
from mmbench.training.reproducibility import capture_rng_state, restore_rng_state
from mmbench.training.sampler import BprSampler

BEST_STATE_FILE = "best.pt"  # beside the checkpoint: the best state so far (see Trainer._save_best)



def build_optimizer(model: RecModel, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser that ``config.optimizer`` names, over the model's trainable parameters."""
    params = [p for p in model.optimised_parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)


def shares_selection(protocols: Sequence[str], metric: str) -> bool:
    """Whether one training run selects the same epoch under every protocol listed.

    True when the protocols mask the same items at validation and the selection metric is
    computed the same way by all of them (only NDCG's normalisation differs between presets).
    """
    name, _ = parse_metric_key(metric)
    resolved = [get_protocol(p) for p in protocols]
    first = resolved[0]
    return all(
        p.masked_splits("valid") == first.masked_splits("valid")
        and (name != "ndcg" or p.ndcg_ideal == first.ndcg_ideal)
        for p in resolved
    )


@dataclass
class TrainOutcome:
    """What a finished training run reports: selection on validation, one test evaluation.

    ``results`` maps each protocol to its (validation, test) evaluation of the restored best
    state; the first protocol is the one that selected it. The test entry is ``None`` when the
    trainer was built with ``evaluate_test=False`` (tuning).
    """

    best_epoch: int
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, Any]]
    results: dict[str, tuple[EvalResult, EvalResult | None]]
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def valid(self) -> EvalResult:
        return next(iter(self.results.values()))[0]

    @property
    def test(self) -> EvalResult | None:
        return next(iter(self.results.values()))[1]


@dataclass
class _LoopState:
    """The training loop's progress; a checkpoint stores it without ``best_state`` (see
    :meth:`Trainer._save_best`)."""

    epoch: int = 0
    best_value: float = -math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    bad_evaluations: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)


def _cpu_state(model: torch.nn.Module) -> dict[str, Any]:
    """A CPU copy of the model's state; non-tensor extra state (generated graphs...) is deep-copied."""
    return {
        k: v.detach().to("cpu", copy=True) if isinstance(v, torch.Tensor) else copy.deepcopy(v)
        for k, v in model.state_dict().items()
    }


def best_state_path(checkpoint: Path) -> Path:
    """Where the best state of the run whose checkpoint is ``checkpoint`` is kept."""
    return checkpoint.with_name(BEST_STATE_FILE)


def selection_cutoff(config: TrainConfig, dataset: Dataset) -> int:
    """The K of the selection metric; :class:`ConfigError` when the catalogue is smaller."""
    _, metric_k = parse_metric_key(config.metric)
    if metric_k > dataset.n_items:
        raise ConfigError(
            f"the selection metric {config.metric} needs K={metric_k}, more than the {dataset.n_items} "
            f"items of {dataset.name}; select on a smaller K (for example --set metric=recall@5)"
        )
    return metric_k


class Trainer:
    """Trains one model on one dataset with one seed; see :meth:`fit`."""

    def __init__(
        self,
        model: RecModel,
        dataset: Dataset,
        config: TrainConfig,
        protocols: str | Sequence[str],
        device: torch.device,
        seed: int,
        checkpoint_path: Path | None = None,
        progress: TrainingProgress | None = None,
        on_evaluation: Callable[[list[dict[str, Any]]], None] | None = None,
        evaluate_test: bool = True,
        ks: Sequence[int] = DEFAULT_KS,
    ) -> None:
        """``evaluate_test=False`` builds no test evaluator at all, so that tuning never reads test.
        ``ks`` are the cut-offs of every metric; the selection metric's own K is always added."""
        self.model = model.to(device)
        self.dataset = dataset
        self.config = config
        self.device = device
        self.checkpoint_path = checkpoint_path
        self.progress = progress or TrainingProgress(mode="off")
        self.on_evaluation = on_evaluation
        protocols = [protocols] if isinstance(protocols, str) else list(protocols)
        if not shares_selection(protocols, config.metric):
            raise ConfigError(
                f"protocols {', '.join(protocols)} compute the selection metric {config.metric} "
                "differently at validation; run them separately or select on another metric"
            )
        ks = tuple(sorted(set(ks) | {selection_cutoff(config, dataset)}))
        self.evaluators = {
            p: (
                Evaluator(dataset, "valid", p, ks, config.eval_batch_size),
                Evaluator(dataset, "test", p, ks, config.eval_batch_size) if evaluate_test else None,
            )
            for p in protocols
        }
        self.valid_evaluator = self.evaluators[protocols[0]][0]
        self.sampler = BprSampler(dataset.train, config.batch_size, np.random.default_rng(seed), config.sampling)
        self.optimizer = build_optimizer(self.model, config)

    def evaluate(self, evaluator: Evaluator) -> EvalResult:
        self.model.eval()
        with torch.no_grad():
            result = evaluator.evaluate(self.model.scorer(), self.device)
        self.model.train()
        return result

    def _batch(self, users: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> BprBatch:
        as_tensor = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
        return BprBatch(as_tensor(users), as_tensor(pos), as_tensor(neg))

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        self.model.on_epoch_start(epoch)
        sums: dict[str, torch.Tensor] = {}
        losses: list[torch.Tensor] = []
        n_batches = len(self.sampler)
        for index, (users, pos, neg) in enumerate(self.sampler.epoch()):
            parts = self.model.train_step(self._batch(users, pos, neg), self.optimizer)
            losses.append(parts["loss"])
            for key, value in parts.items():
                sums[key] = sums[key] + value if key in sums else value
            self.progress.batch(epoch, index + 1, n_batches, parts["loss"])
        # One read of the device per epoch: the batch losses for the finiteness check, the sums.
        batch_losses = torch.stack([loss.float() for loss in losses]).cpu()
        finite = torch.isfinite(batch_losses)
        if not finite.all():
            first = int((~finite).nonzero()[0, 0])
            raise TrainingError(
                f"the loss became {float(batch_losses[first])} at epoch {epoch} (batch {first + 1} of "
                f"{n_batches}); lower the learning rate (--set lr=...) or check the features for "
                "extreme values"
            )
        means = (torch.stack([total.float() for total in sums.values()]) / n_batches).tolist()
        return dict(zip(sums, means))

    def _save_checkpoint(self, state: _LoopState) -> None:
        if self.checkpoint_path is None:
            return
        payload = {
            "loop": replace(state, best_state=None),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": capture_rng_state(),
            "sampler_rng": self.sampler.rng.bit_generator.state,
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        write_bytes_atomic(self.checkpoint_path, buffer.getvalue())

    def _save_best(self, best_state: dict[str, Any]) -> None:
        """The best state so far, in its own file beside the checkpoint, written only when it
        changes: the checkpoint itself then holds one copy of the model, not two."""
        if self.checkpoint_path is None:
            return
        buffer = io.BytesIO()
        torch.save(best_state, buffer)
        write_bytes_atomic(best_state_path(self.checkpoint_path), buffer.getvalue())

    def _load_checkpoint(self) -> _LoopState:
        # read onto the CPU whatever the run's device: the random-generator states must stay CPU
        # byte tensors, and load_state_dict copies each tensor to its parameter's device
        payload = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        restore_rng_state(payload["rng"])
        self.sampler.rng.bit_generator.state = payload["sampler_rng"]
        state = payload["loop"]
        best = best_state_path(self.checkpoint_path)
        if best.exists():
            state.best_state = torch.load(best, map_location="cpu", weights_only=False)
        return state

    def _run_epochs(self, state: _LoopState) -> bool:
        """Train and evaluate from the epoch after ``state.epoch`` until the epoch cap or early
        stopping, updating ``state`` and the checkpoint; returns whether it stopped early."""
        config = self.config
        stopped_early = False
        for epoch in range(state.epoch + 1, config.epochs + 1):
            started = time.perf_counter()
            losses = self._train_epoch(epoch)
            elapsed = time.perf_counter() - started
            self.progress.epoch_done()
            state.train_seconds += elapsed
            state.epoch_seconds.append(elapsed)
            state.epoch = epoch
            if epoch % config.eval_every and epoch != config.epochs:
                continue
            started = time.perf_counter()
            valid = self.evaluate(self.valid_evaluator)
            state.eval_seconds += time.perf_counter() - started
            value = valid.metrics[config.metric]
            row = {"epoch": epoch, "epoch_seconds": round(elapsed, 4), **losses}
            row.update({f"valid_{k}": v for k, v in valid.metrics.items()})
            state.history.append(row)
            if value > state.best_value:
                state.best_value, state.best_epoch = value, epoch
                state.best_state = _cpu_state(self.model)
                self._save_best(state.best_state)
                state.bad_evaluations = 0
            else:
                state.bad_evaluations += 1
            self._save_checkpoint(state)
            if self.on_evaluation:
                self.on_evaluation(state.history)
            self.progress.evaluated(
                epoch, losses.get("loss", float("nan")), config.metric, value, state.best_value, state.best_epoch
            )
            stopped_early = config.patience > 0 and state.bad_evaluations >= config.patience
            if stopped_early:
                break
        return stopped_early

    def fit(self, resume: bool = False) -> TrainOutcome:
        """Train until ``epochs`` or early stopping, restore the best state, evaluate test once.

        Early stopping counts evaluations without a strict improvement of the validation metric
        and stops after ``patience`` of them (``patience=0`` disables it). With ``resume`` the loop
        continues from the checkpoint written at the last evaluation.
        """
        config = self.config
        can_resume = resume and self.checkpoint_path is not None and self.checkpoint_path.exists()
        state = self._load_checkpoint() if can_resume else _LoopState()
        self.progress.start(config.epochs, state.epoch)
        try:
            stopped_early = self._run_epochs(state)
        finally:
            self.progress.close()
        if state.best_state is None:
            raise TrainingError("training ran no epoch: nothing to evaluate (check --epochs)")
        self.model.load_state_dict(copy.deepcopy(state.best_state))
        started = time.perf_counter()
        results = {
            protocol: (
                self.evaluate(valid_evaluator),
                self.evaluate(test_evaluator) if test_evaluator is not None else None,
            )
            for protocol, (valid_evaluator, test_evaluator) in self.evaluators.items()
        }
        final_eval = time.perf_counter() - started
        timing = {
            "train_seconds": round(state.train_seconds, 3),
            "median_epoch_seconds": round(statistics.median(state.epoch_seconds), 4),
            "eval_seconds": round(state.eval_seconds + final_eval, 3),
        }
        return TrainOutcome(state.best_epoch, state.epoch, stopped_early, state.history, results, timing)
