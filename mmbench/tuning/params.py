"""The tuned-parameters file: a study's best trial, in the form ``mmbench run --params`` reads.

It holds the searched values and the keys fixed during tuning (an epoch budget, say), so that a
run with it trains exactly the configuration of the best trial, plus where it came from, which
goes into the run record under ``"tuned"``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmbench.atomic import write_json_atomic
from mmbench.errors import ConfigError

TUNED_DIR = "tuned"


@dataclass(frozen=True)
class TunedParams:
    """The best trial of a study, ready to apply as config overrides."""

    model: str
    dataset: str
    study: str
    storage: str  # without a password
    trial: int
    metric: str
    valid_value: float
    params: dict[str, Any]
    fixed: dict[str, Any]

    def overrides(self) -> dict[str, Any]:
        """Config overrides that rebuild the best trial's configuration."""
        return {**self.fixed, **self.params}

    def record(self, path: Path) -> dict[str, Any]:
        """What a run record stores under ``"tuned"``."""
        return {
            "study": self.study,
            "storage": self.storage,
            "params_file": str(path),
            "trial": self.trial,
            "valid_value": self.valid_value,
        }


def tuned_params_path(results_root: Path, study: str, storage: str | None = None) -> Path:
    """Default file of a study's best parameters: ``<results_root>/tuned/<study>.json``.

    A study in another SQLite or journal file of the results folder (``storage``, as
    :func:`~mmbench.tuning.storage.storage_label` names it) writes to
    ``tuned/<file stem>/<study>.json`` instead: studies of one name in two files (LightGCN on TikTok
    tuned alone in ``tuning.db`` and under a budget in ``tuning-tiktok.db``) keep their own files,
    and the runs trained with each keep pointing at theirs.
    """
    from mmbench.tuning.storage import results_file_stem

    stem = None if storage is None else results_file_stem(storage)
    folder = Path(results_root) / TUNED_DIR
    return (folder if stem is None else folder / stem) / f"{study}.json"


def write_params(path: Path, tuned: TunedParams) -> None:
    """Write ``tuned`` to ``path`` atomically, as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, asdict(tuned))


def read_params(path: Path) -> TunedParams:
    """Read a tuned-parameters file; a missing or malformed one is a one-line ConfigError."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no tuned parameters at {str(path)!r}; run `mmbench tune ... --show` first, or pass --params FILE"
        ) from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"tuned-parameters file {str(path)!r} is not valid JSON: {error}") from None
    try:
        return TunedParams(**document)
    except TypeError:
        raise ConfigError(
            f"{str(path)!r} is not a tuned-parameters file written by `mmbench tune --show`"
        ) from None
