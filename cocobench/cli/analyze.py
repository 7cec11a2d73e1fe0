"""`cocobench analyze ...`: the paper's analyses. The numbers live in `cocobench/analysis/`.

This module holds the analyses over results files (`paths`, `curve`); the ones that load a model
(k-sweep, probe, thoughts) register themselves from `cocobench/cli/analyze_model.py` when it exists, and
`superposition` from `cocobench/cli/analyze_superposition.py`.
Every command prints a table (--format, -q as everywhere) and writes its numbers as JSON and CSV,
and a PNG when matplotlib is installed, into --out.
"""

from __future__ import annotations

import importlib
import sys
from enum import Enum
from pathlib import Path

import typer

from cocobench.cli import app
from cocobench.cli.common import OutputFormat, format_option, quiet_option
from cocobench.errors import CocobenchError

analyze_app = typer.Typer(
    help="The paper's analyses: reasoning-path categories, accuracy vs tokens (and, with a checkpoint, k-sweep, probe, thoughts).",
    no_args_is_help=True,
)
app.add_typer(analyze_app, name="analyze")

DEFAULT_OUT = Path("runs/analysis")


def out_option(what: str):
    return typer.Option(DEFAULT_OUT, "--out", help=f"Directory for {what} (the PNG only with matplotlib installed).")


class Completion(str, Enum):
    exact = "exact"
    any = "any"


@analyze_app.command("paths")
def paths_command(
    results: list[Path] = typer.Argument(..., metavar="RESULTS", help="ProsQA results.json files, run directories or suite directories (searched recursively)."),
    data: Path | None = typer.Option(None, "--data", help="The test file the runs were evaluated on. [default: each run's data.test_file]"),
    completion: Completion = typer.Option(
        Completion.exact, "--completion",
        help="With k > 0 thoughts only a language suffix is visible: it counts as a path when a hidden path of exactly k edges (exact) or of any length (any) leads from the root to its first node.",
    ),  # fmt: skip
    per_sample: bool = typer.Option(True, "--per-sample/--no-per-sample", help="Write each run's per-sample categories to paths.json beside its results.json."),
    out: Path = out_option("the shares of every run: paths.json, paths.csv, paths.png"),
    output_format: OutputFormat = format_option(what="the shares (percent; json and csv keep fractions)"),
    quiet: bool = quiet_option("No notes on stderr (the table is still printed)."),
) -> None:
    """Sort every ProsQA output into the paper's six categories: Correct Path, Longer Path, Hallucination, Wrong Target, Correct Label, Incorrect Label.

    Samples are joined to the test file by idx. The rules (cocobench/analysis/paths.py) in short: answer-only outputs are a correct or incorrect label; otherwise the steps must be facts of the question, connected, start at the root (or, after k thoughts, where a hidden path of k edges can end) and lead to the stated answer, else hallucination; a valid path to the target is correct (shortest) or longer, to any other node a wrong target.
    """
    from cocobench.analysis import paths
    from cocobench.cli.common import stderr
    from cocobench.results import load_results

    runs_results = load_results(results)
    prosqa = [r for r in runs_results if r["task"] in paths.TASKS]
    skipped = sorted({r["task"] for r in runs_results} - set(paths.TASKS))
    if not prosqa:
        raise CocobenchError(f"none of the {len(runs_results)} runs is a ProsQA run (tasks: {', '.join(skipped)}); `analyze paths` reads ProsQA and symbolic ProsQA results")
    if skipped:
        _note(f"skipped {len(runs_results) - len(prosqa)} runs of {', '.join(skipped)}: path categories are for ProsQA", quiet)
    if per_sample and any(Path(r["_source"]).parent.resolve() == out.resolve() for r in prosqa):
        raise CocobenchError(f"--out '{out}' is a run directory, whose {paths.PER_SAMPLE_FILE} holds its per-sample categories; choose another --out")
    runs = [paths.analyze_run(r, completion.value, data) for r in prosqa]
    for run in runs:
        for note in run.notes:
            _note(f"{run.name}: {note}", quiet)
        if per_sample:
            paths.write_per_sample(run)
    written = _write(out, "paths", paths.to_json(runs), paths.render_csv(runs), lambda png: paths.plot(runs, png), quiet)
    _print(output_format, lambda: paths.to_json(runs), lambda: paths.render_csv(runs), lambda: paths.render_markdown(runs), lambda console: paths.render_rich(runs, console))
    if not quiet:
        per_run = f" and {len(runs)} per-sample {paths.PER_SAMPLE_FILE}" if per_sample else ""
        stderr.print(f"wrote {', '.join(map(str, written))}{per_run}", markup=False, highlight=False)


class Grouping(str, Enum):
    method = "method"
    none = "none"


@analyze_app.command("curve")
def curve_command(
    results: list[Path] = typer.Argument(..., metavar="RUNS", help="results.json files, run directories or suite directories (searched recursively)."),
    group_by: Grouping = typer.Option(Grouping.method, "--group-by", help="One line per method, or one line through all runs (none)."),
    title: str = typer.Option("Accuracy vs generated tokens", "--title", help="The plot's title."),
    out: Path = out_option("the points: curve.json, curve.csv, curve.png"),
    output_format: OutputFormat = format_option(what="the points (percent; json and csv keep fractions)"),
    quiet: bool = quiet_option("No notes on stderr (the table is still printed)."),
) -> None:
    """Accuracy against generated tokens per example, one point per run labelled by its name (e.g. Coconut's stages against CoT with its first steps removed, or a sweep over c)."""
    from cocobench.analysis import curve
    from cocobench.cli.common import stderr
    from cocobench.results import load_results

    runs, warmups = curve.without_warmups(load_results(results))
    if warmups:
        _note(f"left out {warmups} warm-up runs (where the suite's runs start, not points of the sweep)", quiet)
    points = curve.build_curve(runs, group_by.value)
    written = _write(out, "curve", curve.to_json(points, group_by.value), curve.render_csv(points), lambda png: curve.plot(points, png, title), quiet)
    _print(output_format, lambda: curve.to_json(points, group_by.value), lambda: curve.render_csv(points),
           lambda: curve.render_markdown(points), lambda console: curve.render_rich(points, console))  # fmt: skip
    if not quiet:
        stderr.print(f"wrote {', '.join(map(str, written))}", markup=False, highlight=False)


# ----------------------------------------------------------------------------------------------
# Shared by the analyses: files into --out, the table to stdout


def _write(out: Path, stem: str, numbers: dict, csv_text: str, draw, quiet: bool) -> list[Path]:
    """OUT/STEM.json and OUT/STEM.csv (atomic), then OUT/STEM.png via `draw(path)` when matplotlib is
    installed; without it one note saying how to get the plots."""
    from cocobench.analysis.plots import PlotsUnavailable
    from cocobench.io import atomic_write_json, atomic_write_text, ensure_writable_dir

    ensure_writable_dir(out)
    written = [out / f"{stem}.json", out / f"{stem}.csv"]
    atomic_write_json(written[0], numbers)
    atomic_write_text(written[1], csv_text)
    try:
        written.append(draw(out / f"{stem}.png"))
    except PlotsUnavailable as exc:
        _note(f"no {stem}.png: {exc}", quiet)
    return written


def _print(output_format: OutputFormat, as_json, as_csv, as_markdown, as_rich) -> None:
    from cocobench.cli.common import print_json, stdout

    if output_format is OutputFormat.json:
        print_json(as_json())
    elif output_format is OutputFormat.csv:
        sys.stdout.write(as_csv())
    elif output_format is OutputFormat.markdown:
        sys.stdout.write(as_markdown())
    else:
        as_rich(stdout)


def _note(message: str, quiet: bool) -> None:
    from cocobench.cli.common import stderr

    if not quiet:
        stderr.print(f"note: {message}", markup=False, highlight=False)


def _register_model_analyses() -> None:
    """The analyses that load a checkpoint (k-sweep, probe, thoughts) live in their own module."""
    try:
        analyze_model = importlib.import_module("cocobench.cli.analyze_model")
    except ModuleNotFoundError as exc:
        if exc.name != "cocobench.cli.analyze_model":
            raise
        return
    analyze_model.register(analyze_app)
    from cocobench.cli.analyze_superposition import superposition_command

    analyze_app.command("superposition")(superposition_command)


_register_model_analyses()
