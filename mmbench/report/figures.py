"""Figures without global state: a Matplotlib ``Figure`` on the Agg canvas, saved as PNG and SVG.

Nothing here touches pyplot or ``matplotlib.rcParams``: each figure owns a non-interactive Agg
canvas, so plotting works on a machine without a display and leaves no state behind. Import this
module inside command handlers only, so that ``mmbench --help`` does not load Matplotlib.
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmbench.atomic import write_bytes_atomic

TITLE_SIZE = 13
LABEL_SIZE = 11
TICK_SIZE = 10
FORMATS = ("png", "svg")


def new_figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, list]:
    """A figure of ``width`` x ``height`` inches with ``ncols`` axes side by side (constrained layout)."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.tick_params(labelsize=TICK_SIZE)
        ax.grid(True, alpha=0.3)
        ax.set_axisbelow(True)
    return figure, list(axes)


def save_figure(figure: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` (150 dpi) and ``stem.svg``, each atomically; returns their paths.

    The SVG's element ids are salted with a fixed string, so regenerating an unchanged figure
    writes the same bytes.
    """
    import matplotlib

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in FORMATS:
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        with matplotlib.rc_context({"svg.hashsalt": "mmbench"}):
            figure.savefig(buffer, format=fmt, dpi=150, metadata=metadata)
        path = stem.with_name(f"{stem.name}.{fmt}")
        write_bytes_atomic(path, buffer.getvalue())
        written.append(path)
    return written
