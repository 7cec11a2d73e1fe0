"""`cocobench suite FILE.yaml`: run a list of experiments, skipping finished ones, then print the table."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cocobench.cli import app


@app.command("suite")
def suite(
    file: Path = typer.Argument(..., help="Suite YAML (name, defaults, runs: [{task, method, seeds, ...}])."),
    out: Optional[Path] = typer.Option(None, "--out", help="Suite directory. [default: runs/<suite name>]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Re-run runs whose results already exist (e.g. to regenerate a baseline)."),
    only: Optional[str] = typer.Option(None, "--only", help="Run only the runs whose name contains this text."),
    table_format: str = typer.Option("rich", "--format", help="Table format at the end: rich | markdown | csv | json."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output (the table is still printed)."),
) -> None:
    """Run every (task, method, seed) of a suite; an interrupted suite resumes where it stopped."""
    from cocobench.cli.table import Format, render_paths
    from cocobench.errors import CocobenchError, Interrupted
    from cocobench.suite import run_suite

    if table_format not in Format.__members__:  # checked before hours of training, not after
        raise CocobenchError(f"--format must be one of {', '.join(Format.__members__)}, got '{table_format}'")

    try:
        out_dir, results = run_suite(file, out, overwrite=overwrite, quiet=quiet, only=only)
    except KeyboardInterrupt:
        raise Interrupted(f"finished runs are kept; run `cocobench suite {file}` again (same --out) to resume") from None
    render_paths(results, table_format)
