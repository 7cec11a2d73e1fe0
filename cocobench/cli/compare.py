"""`cocobench compare BASELINE NEW`: regression check of new runs against a baseline, for CI.

Exit code 0 when nothing regressed, 1 when something did (a significant accuracy drop, token counts
beyond tolerance, a run missing from NEW, options that differ, samples that cannot be paired),
2 on bad input. The judging lives in `cocobench/analysis/compare.py`; this is only the command.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cocobench.cli import app
from cocobench.cli.common import OutputFormat, check_format, format_option, quiet_option

FORMATS = ("rich", "markdown", "json")  # a verdict with notes is no csv


@app.command("compare")
def compare_command(
    baseline: Path = typer.Argument(..., metavar="BASELINE", help="Baseline runs: a results.json, a run directory or a suite directory (searched recursively)."),
    new: Path = typer.Argument(..., metavar="NEW", help="New runs, in any of the same forms; matched to the baseline on (task, method, seed, options)."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level: an accuracy drop with McNemar p < alpha is a regression; the CI has confidence 1 - alpha."),
    tokens_rtol: float = typer.Option(0.05, "--tokens-rtol", help="Relative tolerance on generated tokens and forward passes per example; beyond it is a regression."),
    speed_rtol: float = typer.Option(0.25, "--speed-rtol", help="Warn (never fail) when examples/second drops by more than this fraction."),
    bootstrap: int = typer.Option(10_000, "--bootstrap", help="Bootstrap resamples for the CI of the accuracy change."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed (fixed, so the output is deterministic)."),
    output_format: OutputFormat = format_option(FORMATS, "the comparison (markdown: a PR comment; json keeps accuracies as fractions)"),
    quiet: bool = quiet_option("Accepted for a uniform CLI; compare prints nothing but its result."),
) -> None:
    """Compare NEW runs with BASELINE runs; exit 1 if anything regressed (0 if not, 2 on bad input)."""
    from cocobench.cli.common import print_json, stdout
    from cocobench.analysis.compare import Settings, compare_paths, render_markdown, render_rich, to_json

    output = check_format(output_format, "compare", FORMATS)
    settings = Settings(alpha=alpha, tokens_rtol=tokens_rtol, speed_rtol=speed_rtol, bootstrap=bootstrap, seed=seed)
    comparison = compare_paths(baseline, new, settings)
    if output == "json":
        print_json(to_json(comparison))
    elif output == "markdown":
        sys.stdout.write(render_markdown(comparison))
    else:
        render_rich(comparison, stdout)
    raise typer.Exit(1 if comparison.failed else 0)
