"""Arguments and parsing shared by several sub-commands."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mmbench.errors import ConfigError
from mmbench.evaluation.protocols import PROTOCOLS, get_protocol

if TYPE_CHECKING:
    from mmbench.parallel_runs import RunSettings
    from mmbench.records import RunRecord


RESULTS_ENV = "MMBENCH_RESULTS"
DEFAULT_RESULTS = Path("mmbench-results")


def default_results_root() -> Path:
    """Where run records go unless ``--results`` says otherwise: ``$MMBENCH_RESULTS`` when set, else
    ``./mmbench-results``. Never the repository's curated ``results/``, which only a command that
    names it (``--results results``) reads or writes."""
    configured = os.environ.get(RESULTS_ENV, "").strip()
    return Path(configured) if configured else DEFAULT_RESULTS


def add_results_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results", type=Path, default=default_results_root(),
        help="results root; run records go to RESULTS/runs/<dataset>/<model>/<run id> (default: "
        f"${RESULTS_ENV} when set, else ./{DEFAULT_RESULTS}; the repository's curated records are "
        "under ./results, used only when named)",
    )


def add_protocol_argument(parser: argparse.ArgumentParser, default: str | None = "standard") -> None:
    parser.add_argument(
        "--protocol", choices=sorted(PROTOCOLS), default=default,
        help="evaluation protocol: standard (masks train+valid at test, standard NDCG) or lattice "
        "(the LATTICE/MMSSL code lineage)" + (f" (default: {default})" if default else ""),
    )


def parse_int_list(text: str, flag: str) -> list[int]:
    """``"1,2,3"`` -> ``[1, 2, 3]``; anything else is a :class:`ConfigError` naming the flag."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{flag} expects comma-separated integers such as 1,2,3, got {text!r}") from None
    if not values:
        raise ConfigError(f"{flag} expects at least one integer, got {text!r}")
    return values


def parse_name_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_training_arguments(parser: argparse.ArgumentParser, seeds_default: str, protocol_default: str) -> None:
    """The options every training command shares: seeds, protocols, budget, overrides, device."""
    parser.add_argument("--seeds", default=seeds_default, help=f"comma-separated seeds, one run each (default: {seeds_default})")
    parser.add_argument(
        "--protocol", default=protocol_default,
        help="evaluation protocol(s), comma-separated: standard (test masks train+valid items, "
        "standard NDCG) and/or lattice (the LATTICE/MMSSL code lineage); the first selects the "
        "epoch, the others reuse the training when they select identically "
        f"(default: {protocol_default})",
    )
    parser.add_argument("--epochs", type=int, help="maximum epochs (overrides the model's default)")
    parser.add_argument(
        "--set", dest="assignments", action="append", metavar="KEY=VALUE",
        help="override a config key, repeatable (see `mmbench models NAME` for the keys)",
    )
    add_modalities_argument(parser)
    add_ks_argument(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's own choice)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue unfinished runs from their checkpoint and skip runs already finished with the "
        "same model, seed, config, data and protocols",
    )
    parser.add_argument(
        "--jobs", type=int, default=1,
        help="runs to train at once, each in its own process (default: 1); without --threads each "
        "gets an equal share of the CPU cores; with --device cuda they are spread over the GPUs",
    )


def add_modalities_argument(parser: argparse.ArgumentParser) -> None:
    """``--modalities``: the feature sets every model of the command gets."""
    parser.add_argument(
        "--modalities", metavar="NAMES",
        help="comma-separated feature sets the models use (see `mmbench datasets info NAME`; "
        "default: the dataset's default ones); recorded in each run and shown in report labels "
        "when not the default",
    )


def add_ks_argument(parser: argparse.ArgumentParser) -> None:
    """``--ks``: the cut-offs K of every metric@K."""
    parser.add_argument(
        "--ks", metavar="K,K,...",
        help="cut-offs of the metrics, comma-separated (default: 10,20,50); the selection metric's K "
        "is always added",
    )


def ks_from_args(args: argparse.Namespace) -> tuple[int, ...]:
    """The cut-offs ``--ks`` names (sorted, distinct), or the default ones."""
    from mmbench.config import DEFAULT_KS

    text = getattr(args, "ks", None)
    if text is None:
        return DEFAULT_KS
    values = parse_int_list(text, "--ks")
    if min(values) < 1:
        raise ConfigError(f"--ks expects positive integers such as 5,10,20, got {text!r}")
    return tuple(sorted(set(values)))


def modalities_from_args(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The feature sets ``--modalities`` names, or None where the flag was not given."""
    text = getattr(args, "modalities", None)
    if text is None:
        return None
    names = parse_name_list(text)
    if not names:
        raise ConfigError(f"--modalities expects comma-separated feature-set names such as text,audio, got {text!r}")
    return tuple(names)


def training_overrides(args: argparse.Namespace) -> dict[str, str]:
    """The config overrides of ``--set`` and ``--epochs`` (``--epochs`` wins)."""
    from mmbench.config import parse_assignments

    overrides = parse_assignments(args.assignments)
    if args.epochs is not None:
        if args.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {args.epochs}")
        overrides["epochs"] = str(args.epochs)
    return overrides


def overrides_extra(overrides: dict[str, str]) -> dict[str, dict[str, str]]:
    """What a run record stores of the command line's overrides: ``{"overrides": {...}}`` when
    there are any, so that reports label the run by them instead of mixing it with default runs."""
    return {"overrides": dict(overrides)} if overrides else {}


@dataclass(frozen=True)
class TrainingArguments:
    """The parsed flags of a training command that every run shares."""

    seeds: list[int]
    protocols: list[str]
    overrides: dict[str, str]
    ks: tuple[int, ...]
    modalities: tuple[str, ...] | None


def check_training_arguments(args: argparse.Namespace, models: str) -> TrainingArguments:
    """Check what needs neither torch, the models nor the data, so that a typo is refused at once:
    the model names (``models``), --seeds, --protocol, --set/--epochs, --ks, --modalities and the
    dataset name or folder."""
    from mmbench.data.catalog import resolve
    from mmbench.models.registry import default_registry

    default_registry().check(models)
    seeds = parse_int_list(args.seeds, "--seeds")
    protocols = [get_protocol(name).name for name in parse_name_list(args.protocol)]
    if not protocols:
        raise ConfigError(f"--protocol expects protocol names such as standard,lattice, got {args.protocol!r}")
    overrides = training_overrides(args)
    ks = ks_from_args(args)
    modalities = modalities_from_args(args)
    resolve(args.dataset, args.datasets_root)
    return TrainingArguments(seeds, protocols, overrides, ks, modalities)


def run_settings(args: argparse.Namespace, checked: TrainingArguments) -> RunSettings:
    """What every run of a training command shares, from its flags (checked before any training)."""
    from mmbench.parallel_runs import RunSettings, check_jobs
    from mmbench.training.reproducibility import resolve_device

    check_jobs(args.jobs)
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")
    return RunSettings(
        dataset=args.dataset, datasets_root=args.datasets_root, protocols=tuple(checked.protocols),
        device=str(resolve_device(args.device)), results=args.results, resume=args.resume,
        threads=args.threads, modalities=checked.modalities, ks=checked.ks,
    )


def print_run_result(label: str, seed: int, record: RunRecord) -> None:
    """One line per finished run record: its selection, test metrics at the selection metric's K
    (Recall and NDCG@20 by default) and folder."""
    test = record.data["metrics"]["test"]
    k = str(record.data.get("selection_metric", "recall@20")).partition("@")[2] or "20"
    shown = " ".join(f"{name}@{k} {test[f'{name}@{k}']:.4f}" for name in ("recall", "ndcg") if f"{name}@{k}" in test)
    print(
        f"{label} seed {seed} [{record.protocol}]: best epoch {record.data['best_epoch']}, "
        f"test {shown} ({record.data['timing']['train_seconds']:.0f} s training) -> {record.path}",
        flush=True,
    )
