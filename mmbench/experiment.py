"""One run end to end: build the model, train, evaluate, and write its record."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from mmbench.config import DEFAULT_KS, config_hash, config_to_dict
from mmbench.data.dataset import Dataset
from mmbench.evaluation.evaluator import validate_ks
from mmbench.evaluation.protocols import get_protocol
from mmbench.models.base import RecModel
from mmbench.progress import TrainingProgress
from mmbench.records import (
    CHECKPOINT_FILE,
    RunRecord,
    environment,
    find_finished,
    find_resumable,
    new_run_dir,
    write_history,
    write_per_user,
    write_run_json,
)
from mmbench.training.reproducibility import seed_everything
from mmbench.training.trainer import TrainOutcome, Trainer, best_state_path, selection_cutoff

logger = logging.getLogger("mmbench.run")


def run_model(
    model_class: type[RecModel],
    dataset: Dataset,
    seed: int,
    protocols: Sequence[str],
    overrides: Mapping[str, Any],
    device: torch.device,
    results_root: Path,
    resume: bool = False,
    progress: TrainingProgress | None = None,
    extra: Mapping[str, Any] | None = None,
    modalities: Sequence[str] | None = None,
    ks: Sequence[int] = DEFAULT_KS,
) -> list[RunRecord]:
    """Train ``model_class`` on ``dataset`` with ``seed``; write one complete record per protocol.

    The first protocol selects the best epoch on validation. Further protocols reuse the same
    training when their validation selects identically (see
    :func:`~mmbench.training.trainer.shares_selection`): each gets its own record, exactly what a
    separate run under it would give. ``extra`` is merged into every ``run.json`` (for example how
    a tuned configuration was obtained). The checkpoint is deleted once the records are complete.
    With ``resume``, a training already finished (same model, seed, config, data and protocols) is
    not repeated: its records are returned. A training that fails leaves its record marked
    ``"status": "failed"`` with the error (reports skip it; ``--resume`` continues it from its
    last checkpoint, if it has one); one interrupted after a checkpoint stays ``running``.

    The model gets the feature sets ``dataset`` selects (:meth:`Dataset.with_modalities`), or
    ``modalities`` when given (an ablation variant's subset). Every record names them; when the
    dataset's selection is not its default, the record also keeps it as ``modality_selection``,
    which reports show in the row label. ``ks`` are the metrics' cut-offs (``--ks``), kept in the
    record; like a non-default feature-set choice, non-default cut-offs are part of the run's digest.
    """
    if not model_class.name:
        raise TypeError(f"{model_class.__name__} has no name: load it through a ModelRegistry (declare its entry point)")
    protocols = [get_protocol(p).name for p in protocols]
    primary = protocols[0]
    selection = None if dataset.uses_default_modalities else list(dataset.modalities)
    if modalities is not None:
        dataset = dataset.with_modalities(modalities)
    config = model_class.config_for(dataset.name, overrides)
    ks = validate_ks(ks, dataset.n_items)
    selection_cutoff(config, dataset)  # refused here, before a run folder exists
    digest = config_hash(
        config,
        None if dataset.uses_default_modalities else dataset.modalities,
        None if ks == DEFAULT_KS else ks,
    )
    checksum = dataset.provenance.checksum if dataset.provenance else None
    if resume:
        finished = find_finished(results_root, dataset.name, model_class.name, seed, digest, protocols, checksum)
        if finished is not None:
            logger.info(
                "already finished, not trained again: %s (drop --resume to train a new run)",
                ", ".join(str(r.path) for r in finished),
            )
            return finished
    seed_everything(seed)
    model = model_class(dataset.train_view(), config)
    run_dir = (
        find_resumable(results_root, dataset.name, model_class.name, seed, digest, primary) if resume else None
    )
    resuming = run_dir is not None
    if run_dir is None:
        run_dir = new_run_dir(results_root, dataset.name, model_class.name, f"s{seed}-{digest}-{primary}")
    else:
        logger.info("resuming %s", run_dir)
    record: dict[str, Any] = {
        "status": "running",
        "model": model_class.name,
        "dataset": dataset.name,
        "dataset_checksum": checksum,
        "protocol": primary,
        "selection_protocol": primary,
        "seed": seed,
        "config": config_to_dict(config),
        "config_digest": digest,
        "modalities": list(dataset.modalities),
        "ks": list(ks),
        **({"modality_selection": selection} if selection is not None else {}),
        "started": _now(),
        **(extra or {}),
    }
    write_run_json(run_dir, record)
    outcome = _train_recording_failure(
        lambda: Trainer(
            model, dataset, config, protocols, device, seed, run_dir / CHECKPOINT_FILE, progress,
            on_evaluation=lambda history: write_history(run_dir, history), ks=ks,
        ).fit(resume=resuming),
        run_dir,
        record,
    )
    record.update(
        status="complete",
        finished=_now(),
        best_epoch=outcome.best_epoch,
        epochs_run=outcome.epochs_run,
        stopped_early=outcome.stopped_early,
        selection_metric=config.metric,
        timing=outcome.timing,
        environment=environment(str(device)),
    )
    records = _write_protocol_records(outcome, record, run_dir, results_root, f"s{seed}-{digest}")
    (run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    best_state_path(run_dir / CHECKPOINT_FILE).unlink(missing_ok=True)
    return records


def _train_recording_failure(
    train: Callable[[], TrainOutcome], run_dir: Path, record: dict[str, Any]
) -> TrainOutcome:
    """Build the trainer and train (``train``); if either raises, mark the run's record failed
    (with the error) before re-raising.

    A Ctrl-C after the first checkpoint leaves the record ``running``, since ``--resume`` can
    continue it; one before it has nothing to continue from, so it is failed too.
    """
    try:
        return train()
    except KeyboardInterrupt:
        if not (run_dir / CHECKPOINT_FILE).exists():
            write_run_json(run_dir, {**record, "status": "failed", "error": "interrupted before its first checkpoint"})
        raise
    except Exception as error:
        write_run_json(run_dir, {**record, "status": "failed", "error": str(error) or type(error).__name__})
        raise


def _write_protocol_records(
    outcome: TrainOutcome, record: Mapping[str, Any], run_dir: Path, results_root: Path, stem: str
) -> list[RunRecord]:
    """Write one complete record per protocol of a finished training, the first in ``run_dir``.

    Each further protocol gets its own folder beside it; every record names all of them in
    ``trained_with`` so a reader sees they share one training.
    """
    primary = record["protocol"]
    run_dirs = {primary: run_dir}
    for protocol in outcome.results:
        if protocol != primary:
            run_dirs[protocol] = new_run_dir(results_root, record["dataset"], record["model"], f"{stem}-{protocol}")
    shared = dict(record)
    if len(run_dirs) > 1:
        shared["trained_with"] = sorted(str(d.name) for d in run_dirs.values())
    records = []
    for protocol, (valid, test) in outcome.results.items():
        target = run_dirs[protocol]
        write_history(target, outcome.history)
        write_per_user(target, test)
        protocol_record = dict(
            shared,
            protocol=protocol,
            metrics={"valid": valid.metrics, "test": test.metrics},
            evaluated_users={"valid": int(len(valid.users)), "test": int(len(test.users))},
        )
        write_run_json(target, protocol_record)
        records.append(RunRecord(target, protocol_record))
    return records


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
