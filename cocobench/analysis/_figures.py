"""Figures for the model-side analyses: matplotlib is optional, PNGs are written atomically.

The analyses draw through these two functions only, so that they can be pointed at the shared plot
helpers (cocobench.analysis.plots) in one place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cocobench.io import ensure_writable_dir

PLOT_HINT = "install matplotlib to get the plots as well (pip install 'cocobench[plot]')"


def new_figure(columns: int = 1, *, width: float = 5.0, height: float = 4.0):
    """(figure, [axes...]) side by side, or None without matplotlib. The object API (no pyplot): no
    global state and no display backend, so it works headless and in threads."""
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        return None
    figure = Figure(figsize=(width * columns, height), layout="constrained")
    return figure, list(figure.subplots(1, columns, squeeze=False)[0])


def save_png(figure, path: Path) -> Path:
    """Write the figure as a PNG through a temporary sibling and a rename (never half a file)."""
    path = Path(path)
    ensure_writable_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        figure.savefig(tmp, format="png", dpi=120)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
