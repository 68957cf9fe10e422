"""Where a study lives: the default SQLite file under the results root, the default study name,
and opening any storage URL with the fault-tolerance settings that tuning relies on.

``default_storage_url`` and ``default_study_name`` are imported by other commands
(``mmbench plot tuning``), so their signatures are stable.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from mmbench.errors import ConfigError

JOURNAL_PREFIX = "journal:"
DEFAULT_FILE = "tuning.db"  # the default storage, inside the results folder
RESULTS_MARK = "RESULTS"  # stands for the results folder in storage labels
RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
RETRIES = 3  # times a trial whose worker died is queued again
OPEN_ATTEMPTS = 3  # tries to open an RDB storage before giving up
DEFAULT_HEARTBEAT = 10  # seconds between a worker's heartbeats


def default_storage_url(results_root: Path) -> str:
    """Return the SQLite URL of the default study database, ``<results_root>/tuning.db``, absolute."""
    return f"sqlite:///{Path(results_root).resolve() / DEFAULT_FILE}"


def default_study_name(model: str, dataset: str) -> str:
    """Return the default study name for a model tuned on a dataset, ``<model>-<dataset>``."""
    return f"{model}-{dataset}"


def public_url(url: str) -> str:
    """The URL without its password, for records and messages (``postgresql://u@host/db``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


def storage_label(url: str, results_root: Path) -> str:
    """How budget files, parameters files and run records name the storage of a study.

    A SQLite or journal file inside ``results_root`` is written relative to it, as
    ``sqlite:///RESULTS/tuning.db``, so that the label stays the same when the results folder is
    cloned or moved (a budget file written in one clone resumes in another); any other URL is
    named by :func:`public_url` (no password).
    """
    parts = _file_parts(url)
    if parts is None or not parts[1]:
        return public_url(url)
    prefix, file = parts
    try:
        inside = Path(file).resolve().relative_to(Path(results_root).resolve())
    except ValueError:
        return public_url(url)
    return f"{prefix}{RESULTS_MARK}/{inside.as_posix()}"


def results_file_stem(label: str) -> str | None:
    """The stem of the SQLite or journal file that a :func:`storage_label` names inside the results
    folder (``tuning-tiktok`` for ``sqlite:///RESULTS/tuning-tiktok.db``); None for the default
    file, ``RESULTS/tuning.db``, and for a server or a file elsewhere."""
    parts = _file_parts(label)
    if parts is None or not parts[1].startswith(f"{RESULTS_MARK}/"):
        return None
    inside = parts[1][len(RESULTS_MARK) + 1:]
    return None if inside == DEFAULT_FILE else Path(inside).stem


def local_file_url(label: str, results_root: Path) -> str | None:
    """The URL of the SQLite file that a :func:`storage_label` names inside ``results_root``
    (``sqlite:///RESULTS/tuning-tiktok.db``); None for any other storage (a server, a journal, a
    file elsewhere), which a report leaves to its owner."""
    prefix = f"sqlite:///{RESULTS_MARK}/"
    if not label.startswith(prefix):
        return None
    return f"sqlite:///{Path(results_root).resolve() / label[len(prefix):]}"


def names_missing_file(url: str) -> bool:
    """Whether ``url`` names a SQLite or journal file that does not exist (a server never is)."""
    parts = _file_parts(url)
    return parts is not None and not Path(parts[1]).exists()


def _file_parts(url: str) -> tuple[str, str] | None:
    """A journal or SQLite URL split into its prefix and its file path as written (``""`` when it
    names no file); None for a server URL."""
    if url.startswith(JOURNAL_PREFIX):
        return JOURNAL_PREFIX, url[len(JOURNAL_PREFIX):].removeprefix("//")
    if urlsplit(url).scheme.split("+")[0] == "sqlite":
        head, separator, database = url.partition(":///")
        return head + separator, database
    return None


def open_storage(url: str, heartbeat_seconds: int = DEFAULT_HEARTBEAT, create: bool = True) -> Any:
    """An Optuna storage for ``url``, ready to be shared by several worker processes.

    RDB URLs (``sqlite:///FILE``, ``postgresql://...``, ``mysql://...``) get heartbeats: a trial
    whose worker stops beating for ``3 * heartbeat_seconds`` is marked failed and queued again
    (at most :data:`RETRIES` times). ``journal:FILE`` opens Optuna's append-only journal file,
    which avoids SQLite's locking but has no heartbeat in Optuna, so a killed worker's trial stays
    ``RUNNING`` there. With ``create=False`` a missing SQLite or journal file is an error rather
    than a new empty database. A bad URL is a :class:`ConfigError`.
    """
    import warnings

    import sqlalchemy.exc
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if heartbeat_seconds < 1:
        raise ConfigError(f"--heartbeat must be at least 1 second, got {heartbeat_seconds}")
    parts = _file_parts(url)
    if url.startswith(JOURNAL_PREFIX):
        path = Path(parts[1])
        if not path.name:
            raise ConfigError(f"journal storage {url!r} names no file; use journal:PATH/TO/FILE.log")
        _check_exists(path, create)
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme not in RDB_SCHEMES:
        raise ConfigError(
            f"unsupported storage URL {public_url(url)!r}; use sqlite:///FILE, "
            "postgresql://USER:PASSWORD@HOST/DB, mysql://... or journal:FILE"
        )
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if scheme == "sqlite":
        database = parts[1]
        if not database:
            raise ConfigError(f"SQLite storage {url!r} names no file; use sqlite:///PATH/TO/FILE.db")
        _check_exists(Path(database), create)
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}
    def make() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_seconds,
                grace_period=3 * heartbeat_seconds,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=RETRIES),
            )

    try:
        return _retried(make)
    except ImportError:
        raise ConfigError(
            f"no database driver for {public_url(url)!r}; for PostgreSQL run pip install 'mmbench[postgres]'"
        ) from None
    except sqlalchemy.exc.SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise ConfigError(f"cannot open storage {public_url(url)!r}: {reason}") from None


def _retried(make: Callable[[], Any]) -> Any:
    """``make()``, tried again after a database error: workers that open a new database at the
    same time race to create its tables, and the loser's error is gone a moment later."""
    import sqlalchemy.exc

    for attempt in range(1, OPEN_ATTEMPTS):
        try:
            return make()
        except sqlalchemy.exc.SQLAlchemyError:
            time.sleep(attempt)
    return make()


def has_heartbeat(storage: Any) -> bool:
    """Whether ``storage`` (from :func:`open_storage`) fails and retries the trials of dead workers."""
    from optuna.storages import RDBStorage

    return isinstance(storage, RDBStorage)


def _check_exists(path: Path, create: bool) -> None:
    if not create and not path.exists():
        raise ConfigError(f"no study storage at {str(path)!r}; run `mmbench tune` first or check --storage/--results")
