"""Accuracy against generated tokens over a set of runs (`cocobench analyze curve`): the efficiency view.

One point per run: x = generated tokens per example (the paper's token rule: each continuous thought
counts 1), y = accuracy. Points are grouped into lines, by method unless asked otherwise, each line in
order of tokens, and every point carries its run's name. Built for two sweeps (suites in
benchmarks/analysis/): Coconut trained to stage m against CoT with its first m steps removed
(efficiency.yaml), and the number of thoughts per step c (csweep.yaml).

The table, JSON and CSV list every run; the plot draws one point per configuration (the runs of a
group whose settings differ only in the seed): the mean over seeds, with a bar of ±1 standard deviation
where there are several, and a line only through a group's different configurations (a sweep).
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
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
    setting: str = ""  # the run's settings but its seed: runs with equal group and setting are seeds of one configuration
    model: str = ""
    examples: int = 0

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
            source=result.get("_source", ""), setting=_setting(result), model=str((result.get("config") or {}).get("model", "")),
            examples=int(metrics.get("total", 0)),
        ))  # fmt: skip
    return sorted(points, key=lambda p: (p.group, p.generated_tokens, p.name))


SEED_FREE = ("seed", "init_from", "out", "suite_stage")  # what differs between the seeds of one configuration


def _setting(result: dict[str, Any]) -> str:
    options = {k: v for k, v in (result.get("options") or {}).items() if k not in SEED_FREE}
    return json.dumps(options, sort_keys=True, default=str)


@dataclass
class Configuration:
    """The seeds of one configuration: mean and standard deviation of their accuracy, mean tokens."""

    group: str
    label: str
    runs: list[Point]

    @property
    def accuracy(self) -> float:
        return statistics.fmean(p.accuracy for p in self.runs)

    @property
    def accuracy_std(self) -> float | None:
        return statistics.stdev(p.accuracy for p in self.runs) if len(self.runs) > 1 else None

    @property
    def generated_tokens(self) -> float:
        return statistics.fmean(p.generated_tokens for p in self.runs)


def configurations(points: list[Point]) -> list[Configuration]:
    """Points merged over seeds, in group then token order; a configuration is labelled by its runs'
    shared name without the seed ("prosqa-cot" for prosqa-cot-seed0..2)."""
    merged: dict[tuple[str, str], list[Point]] = {}
    for point in points:
        merged.setdefault((point.group, point.setting), []).append(point)
    out = [Configuration(group, _without_seed([p.name for p in runs]), runs) for (group, _), runs in merged.items()]
    return sorted(out, key=lambda c: (c.group, c.generated_tokens, c.label))


def seedless(name: str) -> str:
    """A run's name without its seed suffix ("prosqa-cot-seed2" -> "prosqa-cot")."""
    return re.sub(r"[-_]?seed\d+$", "", name)


def _without_seed(names: list[str]) -> str:
    stems = {seedless(name) for name in names}
    return stems.pop() if len(stems) == 1 else names[0]


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
    """One point per configuration (mean over seeds, ±1 std bar), a line through each group's sweep, the
    sweep's points labelled; the legend names the groups and a caption the data, models and seeds
    (needs matplotlib)."""
    from cocobench.analysis import plots

    fig, (ax,) = plots.figure(1, width=8.0, height=5.2)
    merged = configurations(points)
    by_group: dict[str, list[Configuration]] = {}
    for configuration in merged:
        by_group.setdefault(configuration.group, []).append(configuration)
    shift = _dodge({group: members[0].generated_tokens for group, members in by_group.items() if len(members) == 1})
    for index, (group, members) in enumerate(by_group.items()):
        color = f"C{index % 10}"
        xs, ys = [c.generated_tokens + shift.get(group, 0.0) for c in members], [100 * c.accuracy for c in members]
        errors = [0.0 if c.accuracy_std is None else 100 * c.accuracy_std for c in members]
        seeds = sorted({len(c.runs) for c in members})
        label = f"{group} ({'/'.join(map(str, seeds))} seed{'s' if seeds != [1] else ''})"
        ax.errorbar(xs, ys, yerr=errors, fmt="o-" if len(members) > 1 else "o", capsize=4, color=color, label=label, markersize=6)
        if len(members) > 1:  # a sweep: say which point is which setting, alternating above and below
            for i, c in enumerate(members):
                ax.annotate(_short(c.label, group), (xs[i], ys[i]), textcoords="offset points", xytext=(5, 7 if i % 2 == 0 else -12), fontsize=7, color=color)
    ax.set(title=title, xlabel="generated tokens per example (a continuous thought counts 1)", ylabel="test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(caption(points), fontsize=8)
    return plots.save_png(fig, path)


def _dodge(xs: dict[str, float]) -> dict[str, float]:
    """Sideways shifts for single points at (nearly) the same tokens, so that their bars never overlap:
    each cluster is spread over steps of 1.5% of the axis, centred on its tokens (the CSV keeps the exact values)."""
    if not xs:
        return {}
    span = max(max(xs.values()) - min(xs.values()), 1.0)
    step, shift, cluster = 0.015 * span, {}, []
    for group, x in sorted(xs.items(), key=lambda item: item[1]) + [("", float("inf"))]:
        if cluster and x - xs[cluster[0]] > step:
            for i, name in enumerate(cluster):
                shift[name] = (i - (len(cluster) - 1) / 2) * step
            cluster = []
        cluster.append(group)
    return shift


def _short(label: str, group: str) -> str:
    """A sweep point's label without what the legend already says (its task and method)."""
    method = group.split(": ")[-1]
    head, _, tail = label.partition(method + "-")
    return tail if tail else label


def caption(points: list[Point]) -> str:
    """The data, models, seeds and test size behind the plot, as one line."""
    tasks = ", ".join(sorted({p.task for p in points}))
    models = ", ".join(sorted({p.model for p in points if p.model})) or "unknown model"
    sizes = sorted({p.examples for p in points if p.examples})
    per = f"{'/'.join(map(str, sizes))} test examples" if sizes else ""
    return f"{tasks}; {models}; {len(points)} runs, {len(configurations(points))} configurations; {per}; bars: ±1 std over seeds"
