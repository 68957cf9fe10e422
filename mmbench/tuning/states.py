"""The groups of trial states the tuning modules count by, and how each state is shown, in one place.

A finished trial fills one of a study's trials; a live one has finished or still may (it runs, or
waits in the queue), so a trial that carries on its work is not queued a second time.
"""

FINISHED = ("COMPLETE", "PRUNED")
LIVE = (*FINISHED, "RUNNING", "WAITING")

# state (as :func:`~mmbench.tuning.worker.trial_state` names it) -> how study summaries and reports
# show it; a surplus trial started after the study was full and never trained
LABELS = {
    "COMPLETE": "complete", "PRUNED": "pruned", "INTERRUPTED": "interrupted", "FAIL": "failed", "RUNNING": "running",
    "WAITING": "waiting", "SURPLUS": "surplus (not trained)",
}
