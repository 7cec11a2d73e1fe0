"""PNG figures for the analyses, with matplotlib as an optional extra (`pip install 'cocobench[plot]'`).

matplotlib is imported only when a figure is drawn, through `figure`; without it `PlotsUnavailable` is
raised, and the commands write their JSON/CSV anyway and say how to get the plots (`PLOT_HINT`).
Figures are `matplotlib.figure.Figure` objects, never pyplot's global state, so nothing opens a window
and nothing leaks between figures. Drawing functions take the axes to draw on, so that one figure can
hold several panels (the k-sweep: accuracy vs k on the left, stacked category shares on the right):

    fig, (left, right) = figure(2, title="ProsQA k-sweep")
    line_plot(left, [0, 1, 2], {"coconut": [0.8, 0.9, 0.95]}, title=..., xlabel="k", ylabel="accuracy %")
    stacked_bars(right, ["0", "1", "2"], {"Correct Path": [...], ...}, colors=[...], title=..., ...)
    save_png(fig, "ksweep.png")
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PLOT_HINT = "pip install 'cocobench[plot]'"


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed: the caller skips the PNG and prints `PLOT_HINT`."""


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def figure(panels: int = 1, *, title: str | None = None, width: float | None = None, height: float = 4.5):
    """(figure, [axes, ...]): `panels` plots side by side, 6 inches wide each unless `width` says."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotsUnavailable(f"matplotlib is not installed; {PLOT_HINT} for the PNG figures") from None
    fig = Figure(figsize=(width or 6.0 * panels, height), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    if title:
        fig.suptitle(title)
    return fig, list(axes)


def optional_figure(panels: int = 1, **options):
    """`figure(...)`, or None without matplotlib (the caller still writes its numbers and says `PLOT_HINT`)."""
    try:
        return figure(panels, **options)
    except PlotsUnavailable:
        return None


def line_plot(ax, x: Sequence[float], series: Mapping[str, Sequence[float | None]], *, title: str, xlabel: str, ylabel: str,
              point_labels: Mapping[str, Sequence[str]] | None = None, xs: Mapping[str, Sequence[float]] | None = None) -> None:  # fmt: skip
    """One line with markers per series (None values are gaps). Every series shares `x` unless `xs`
    gives its own; `point_labels` writes a label beside each point of a series (e.g. run names)."""
    for name, values in series.items():
        points = [(px, py) for px, py in zip((xs or {}).get(name, x), values) if py is not None]
        if not points:
            continue
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        for (px, py), label in zip(points, (point_labels or {}).get(name, ())):
            ax.annotate(label, (px, py), textcoords="offset points", xytext=(4, 4), fontsize=7)
    _decorate(ax, title, xlabel, ylabel)
    if len(series) > 1:
        ax.legend(fontsize=8)


def stacked_bars(ax, bars: Sequence[str], stacks: Mapping[str, Sequence[float]], *, title: str, xlabel: str, ylabel: str,
                 colors: Sequence[str] | None = None) -> None:  # fmt: skip
    """One bar per name in `bars`, stacked from the stacks in order (e.g. category shares per run)."""
    positions = list(range(len(bars)))
    bottom = [0.0] * len(bars)
    for i, (name, values) in enumerate(stacks.items()):
        color = colors[i] if colors and i < len(colors) else None
        ax.bar(positions, values, bottom=bottom, label=name, color=color)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(positions, list(bars), rotation=30 if max(map(len, bars), default=0) > 8 else 0, ha="right" if max(map(len, bars), default=0) > 8 else "center", fontsize=8)
    _decorate(ax, title, xlabel, ylabel, grid_x=False)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _decorate(ax, title: str, xlabel: str, ylabel: str, *, grid_x: bool = True) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="both" if grid_x else "y", alpha=0.3)


def save_png(fig: Any, path: str | Path) -> Path:
    """Write the figure as a PNG, atomically (rendered in memory, then one atomic file write)."""
    from cocobench.io import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=150)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
