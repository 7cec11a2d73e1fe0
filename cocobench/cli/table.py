"""`cocobench table RESULTS...`: the paper's Table 1 for your runs. The numbers live in `cocobench/analysis/table.py`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cocobench.cli import app
from cocobench.cli.common import OutputFormat, format_option, quiet_option


@app.command("table")
def table_command(
    results: list[Path] = typer.Argument(..., metavar="RESULTS", help="results.json files, run directories or suite directories (searched recursively)."),
    output_format: OutputFormat = format_option(what="the table (csv: one line per method and task)"),
    baseline: str = typer.Option("cot", "--baseline", help="Method whose row the differences (accuracy points, generated tokens) are computed against."),
    significance: bool = typer.Option(False, "--significance", help="Add, for each row against the --baseline row, the exact McNemar p and the paired-bootstrap 95% interval of Δacc, over the test examples of the seeds both rows ran (pooled)."),
    quiet: bool = quiet_option("No notes on stderr (the table is still printed)."),
) -> None:
    """One row per method, one column group per task: accuracy (mean ± std over seeds), tokens, forward passes, speed.

    Runs of one task and method whose options (other than the seed) or test files differ are never averaged: each variant gets its own row, labelled by the options that differ.
    """
    render_paths(results, output_format.value, baseline, quiet=quiet, significance=significance)


def render_paths(results: list[Path], output_format: str = "rich", baseline: str = "cot", *, quiet: bool = False, significance: bool = False) -> None:
    """Print the table of these results files/directories in one of the formats (shared with `suite`).
    A --baseline that is no method at all (a typo) is an error; a method these results lack, a note."""
    from cocobench.cli.common import print_json, stderr, stdout
    from cocobench.analysis.table import add_shortcuts, build_table, render_csv, render_markdown, render_rich, to_json
    from cocobench.errors import unknown_name
    from cocobench.methods import method_names
    from cocobench.results import load_results

    loaded = load_results(results)
    table = build_table(loaded, baseline=baseline, significance=significance)
    add_shortcuts(table, loaded)
    if baseline not in method_names() and not any(table.has_baseline(task) for task in table.tasks):
        raise unknown_name("--baseline method", baseline, sorted(set(method_names()) | {row.method for row in table.rows}))
    if not quiet and not any(table.has_baseline(task) for task in table.tasks):
        stderr.print(f"note: no '{baseline}' runs among these results, so no differences are shown; pick another row with --baseline", markup=False)
    if output_format == "json":
        print_json(to_json(table))
    elif output_format == "markdown":
        sys.stdout.write(render_markdown(table))
    elif output_format == "csv":
        sys.stdout.write(render_csv(table))
    else:
        render_rich(table, stdout)
