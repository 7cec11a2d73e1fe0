"""Accuracy against generated tokens over a set of runs (`cocobench analyze curve`): the efficiency view.

One point per run: x = generated tokens per example (the paper's token rule: each continuous thought
counts 1), y = accuracy. Points are grouped into lines, by method unless asked otherwise, each line in
order of tokens, and every point carries its run's name. Built for two sweeps (suites in
benchmarks/analysis/): Coconut trained to stage m against CoT with its first m steps removed
(efficiency.yaml), and the number of thoughts per step c (csweep.yaml).

A run's accuracy here is that run's alone: seeds are separate points (use `cocobench table` for means).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocobench.errors import CocobenchError

GROUPINGS = ("method", "none")
ALL_RUNS = "all runs"  # the one group of --group-by none


@dataclass
class Point:
    name: str  # the run's name; its directory's parent is added where two runs share one
    method: str
    task: str
    group: str
    accuracy: float  # fraction, as in results.json
    accuracy_stderr: float | None
    generated_tokens: float
    forward_passes: float
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.name, "method": self.method, "task": self.task, "group": self.group,
            "accuracy": self.accuracy, "accuracy_stderr": self.accuracy_stderr,
            "generated_tokens": self.generated_tokens, "forward_passes": self.forward_passes, "source": self.source,
        }  # fmt: skip


def build_curve(results: list[dict[str, Any]], group_by: str = "method") -> list[Point]:
    """One point per validated run, sorted by group, then tokens. Runs of several tasks get the task in
    their group name: one line never mixes tasks."""
    if group_by not in GROUPINGS:
        raise CocobenchError(f"unknown --group-by '{group_by}'; use one of {', '.join(GROUPINGS)}")
    from cocobench.results import accuracy_stderr

    several_tasks = len({r["task"] for r in results}) > 1
    names = _names(results)
    points = []
    for result, name in zip(results, names):
        metrics = result["metrics"]
        group = result["method"] if group_by == "method" else ALL_RUNS
        points.append(Point(
            name=name, method=result["method"], task=result["task"],
            group=f"{result['task']}: {group}" if several_tasks else group,
            accuracy=metrics["accuracy"],
            accuracy_stderr=metrics.get("accuracy_stderr", accuracy_stderr(metrics["correct"], metrics["total"])),
            generated_tokens=metrics["generated_tokens_mean"], forward_passes=metrics["forward_passes_mean"],
            source=result.get("_source", ""),
        ))  # fmt: skip
    return sorted(points, key=lambda p: (p.group, p.generated_tokens, p.name))


def without_warmups(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """A suite's warm-up runs are where the runs start, not points of a sweep (as in `table`): left out,
    unless nothing else is given. Returns the runs to plot and how many were left out."""
    from cocobench.results import WARMUP_STAGE

    rows = [r for r in results if (r.get("config") or {}).get("suite_stage") != WARMUP_STAGE]
    return (rows, len(results) - len(rows)) if rows else (results, 0)


def _names(results: list[dict[str, Any]]) -> list[str]:
    """Run names; where two runs share one (the same suite run twice), their parent folder tells them apart."""
    names = [str(r.get("run_name") or Path(r.get("_source", "run")).parent.name) for r in results]
    return [
        f"{Path(r.get('_source', '')).parent.parent.name}/{name}" if names.count(name) > 1 else name
        for r, name in zip(results, names)
    ]


def groups(points: list[Point]) -> dict[str, list[Point]]:
    out: dict[str, list[Point]] = {}
    for point in points:
        out.setdefault(point.group, []).append(point)
    return out


# ----------------------------------------------------------------------------------------------
# Output: rich table, markdown, csv, json, line plot


def to_json(points: list[Point], group_by: str) -> dict[str, Any]:
    """Accuracies as fractions (as in results.json); the table and plot show percent."""
    return {"group_by": group_by, "x": "generated_tokens", "y": "accuracy", "points": [p.to_json() for p in points],
            "groups": {name: [p.name for p in members] for name, members in groups(points).items()}}  # fmt: skip


CSV_FIELDS = ("run", "method", "task", "group", "accuracy", "accuracy_stderr", "generated_tokens", "forward_passes", "source")


def render_csv(points: list[Point]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for point in points:
        writer.writerow({k: "" if v is None else v for k, v in point.to_json().items()})
    return buffer.getvalue()


HEADERS = ("group", "run", "acc %", "± se", "tokens", "passes")


def _row(point: Point) -> list[str]:
    se = "-" if point.accuracy_stderr is None else f"{100 * point.accuracy_stderr:.1f}"
    return [point.group, point.name, f"{100 * point.accuracy:.1f}", se, f"{point.generated_tokens:.1f}", f"{point.forward_passes:.1f}"]


def render_markdown(points: list[Point]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|---|" + "---:|" * (len(HEADERS) - 2)]
    lines += ["| " + " | ".join(_row(p)) + " |" for p in points]
    return "\n".join(lines) + "\n"


def render_rich(points: list[Point], console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from cocobench.progress import wide_enough

    table = Table(title="accuracy vs generated tokens", title_justify="left",
                  caption="± se: binomial standard error of the accuracy; tokens: generated per example (a thought counts 1)",
                  caption_justify="left")  # fmt: skip
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("group", "run") else "right", no_wrap=header == "run")
    for point in points:
        table.add_row(*(escape(cell) for cell in _row(point)))
    wide_enough(console, table).print(table)


def plot(points: list[Point], path: str | Path, title: str = "Accuracy vs generated tokens") -> Path:
    """One line per group over generated tokens, each point labelled by its run (needs matplotlib)."""
    from cocobench.analysis import plots

    fig, (ax,) = plots.figure(1, width=7.5, height=5.0)
    members = groups(points)
    plots.line_plot(
        ax, [], {name: [100 * p.accuracy for p in ps] for name, ps in members.items()},
        xs={name: [p.generated_tokens for p in ps] for name, ps in members.items()},
        point_labels={name: [p.name for p in ps] for name, ps in members.items()},
        title=title, xlabel="generated tokens per example", ylabel="accuracy %",
    )  # fmt: skip
    return plots.save_png(fig, path)
