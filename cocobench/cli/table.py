"""`cocobench table RESULTS...`: the paper's Table 1 for your runs. The numbers live in `cocobench/report.py`."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

import typer

from cocobench.cli import app


class Format(str, Enum):
    rich = "rich"
    markdown = "markdown"
    csv = "csv"
    json = "json"


@app.command("table")
def table_command(
    results: list[Path] = typer.Argument(..., metavar="RESULTS", help="results.json files, run directories or suite directories (searched recursively)."),
    output_format: Format = typer.Option(Format.rich, "--format", help="rich: a terminal table; markdown: for a paper or PR; csv: one line per (method, task); json: machine-readable."),
    baseline: str = typer.Option("cot", "--baseline", help="Method whose row the differences (accuracy points, generated tokens) are computed against."),
) -> None:
    """One row per method, one column group per task: accuracy (mean ± std over seeds), tokens, forward passes, speed.

    Runs of one task and method whose options (other than the seed) or test files differ are never averaged: each variant gets its own row, labelled by the options that differ.
    """
    render_paths(results, output_format.value, baseline)


def render_paths(results: list[Path], output_format: str = "rich", baseline: str = "cot") -> None:
    """Print the table of these results files/directories in one of the formats (shared with `suite`)."""
    from cocobench.cli.common import print_json, stderr, stdout
    from cocobench.report import build_table, load_results, render_csv, render_markdown, render_rich, to_json

    table = build_table(load_results(results), baseline=baseline)
    if not any(table.has_baseline(task) for task in table.tasks):
        stderr.print(f"note: no '{baseline}' runs among these results, so no differences are shown; pick another row with --baseline", markup=False)
    if output_format == "json":
        print_json(to_json(table))
    elif output_format == "markdown":
        sys.stdout.write(render_markdown(table))
    elif output_format == "csv":
        sys.stdout.write(render_csv(table))
    else:
        render_rich(table, stdout)
