"""The one rule for sharing a machine's CPU cores between parallel workers.

Used by ``run``/``ablate``/``sweep --jobs`` (worker processes of :mod:`mmbench.parallel_runs`) and by
``tune --workers``/``--gpus`` (worker processes of :mod:`mmbench.tuning.launcher`): without
``--threads``, each of N workers gets an equal share of the cores, so that N workers never run
N x cores torch threads on cores they share.
"""

from __future__ import annotations

import os


def threads_per_worker(threads: int | None, workers: int) -> int | None:
    """``--threads`` if given; with several workers, the cores shared out (at least one each);
    None (torch's own choice) for a single worker."""
    if threads is not None or workers <= 1:
        return threads
    return max(1, (os.cpu_count() or 1) // workers)
