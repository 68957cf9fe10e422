"""The groups of trial states the tuning modules count by, in one place.

A finished trial fills one of a study's trials; a live one has finished or still may (it runs, or
waits in the queue), so a trial that carries on its work is not queued a second time.
"""

FINISHED = ("COMPLETE", "PRUNED")
LIVE = (*FINISHED, "RUNNING", "WAITING")
