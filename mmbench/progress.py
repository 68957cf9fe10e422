"""A one-line progress display on a terminal; silent when the output is not a terminal."""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import torch


class Progress:
    """Rewrites one status line on ``stream`` at most every ``interval`` seconds."""

    def __init__(self, stream: TextIO | None = None, interval: float = 0.2, enabled: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval = interval
        self._last = 0.0
        self._width = 0

    def update(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        padded = text.ljust(self._width)
        self._width = len(text)
        self.stream.write("\r" + padded)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class TrainingProgress:
    """What a person sees while one model trains.

    ``bar`` (the default on a terminal): a progress bar over the epochs with elapsed time, an
    estimate of the time left to the epoch cap (early stopping usually ends sooner) and the last
    batch loss, and above it one line per evaluation that stays on screen. ``lines`` (the default
    when the output is redirected to a file, as under nohup or CI): the same per-evaluation lines
    alone, flushed as they come. ``off``: nothing.
    """

    MODES = ("bar", "lines", "off")
    BATCH_INTERVAL = 0.5  # seconds between two readings of the batch loss for the bar

    def __init__(self, label: str = "", stream: TextIO | None = None, mode: str | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.mode = mode if mode is not None else ("bar" if self.stream.isatty() else "lines")
        if self.mode not in self.MODES:
            raise ValueError(f"unknown progress mode {self.mode!r}; expected one of {', '.join(self.MODES)}")
        self.label = f"{label}: " if label else ""
        self._bar = None
        self._epochs = 0
        self._started = time.monotonic()
        self._last_batch = -math.inf

    def start(self, epochs: int, done: int = 0) -> None:
        """Training of at most ``epochs`` epochs begins, ``done`` of them already run (a resume)."""
        self._epochs = epochs
        self._started = time.monotonic()
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(
                total=epochs, initial=done, desc=self.label.rstrip(": ") or "training", unit="epoch",
                file=self.stream, dynamic_ncols=True, leave=False,
                bar_format="{desc} epoch {n_fmt}/{total_fmt} |{bar}| {elapsed}<{remaining}{postfix}",
            )

    def batch(self, epoch: int, index: int, n_batches: int, loss: torch.Tensor | float) -> None:
        """A batch finished (shown on the bar only).

        ``loss`` may be a tensor on the training device: it is read at most every
        ``BATCH_INTERVAL`` seconds, so that the display does not make each step wait for the
        device.
        """
        if self._bar is None:
            return
        now = time.monotonic()
        if index < n_batches and now - self._last_batch < self.BATCH_INTERVAL:
            return
        self._last_batch = now
        self._bar.set_postfix_str(f"batch {index}/{n_batches} loss {float(loss):.4f}", refresh=False)

    def epoch_done(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def evaluated(self, epoch: int, loss: float, metric: str, value: float, best: float, best_epoch: int) -> None:
        """One line per evaluation: epoch k of N, mean loss, validation metric, best so far, elapsed."""
        if self.mode == "off":
            return
        line = (
            f"{self.label}epoch {epoch}/{self._epochs} loss {loss:.4f} valid {metric} {value:.4f} "
            f"(best {best:.4f} @ {best_epoch}) elapsed {_clock(time.monotonic() - self._started)}"
        )
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
