"""`cocobench suite FILE.yaml`: run a list of experiments, skipping finished ones, then print the table."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cocobench.cli import app
from cocobench.cli.common import OutputFormat, format_option, quiet_option


@app.command("suite")
def suite(
    file: Path = typer.Argument(..., help="Suite YAML (name, defaults, runs: [{task, method, seeds, ...}])."),
    out: Optional[Path] = typer.Option(None, "--out", help="Suite directory. [default: runs/<suite name>]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start every selected run over: its old checkpoints and results are removed first (e.g. to regenerate a baseline). Without it finished runs are skipped and interrupted ones resumed."),
    only: Optional[str] = typer.Option(None, "--only", help="Run only the runs whose name contains this text."),
    table_format: OutputFormat = format_option(what="the table at the end"),
    quiet: bool = quiet_option("No progress output or notes (the table is still printed)."),
) -> None:
    """Run every (task, method, seed) of a suite; an interrupted suite resumes where it stopped."""
    from cocobench.cli.table import render_paths
    from cocobench.errors import Interrupted
    from cocobench.suite import run_suite

    try:
        out_dir, results = run_suite(file, out, overwrite=overwrite, quiet=quiet, only=only)
    except KeyboardInterrupt:
        raise Interrupted(f"finished runs are kept; run `cocobench suite {file}` again (same --out) to resume") from None
    render_paths(results, table_format.value, quiet=quiet)  # --format was checked by click, before hours of training
