"""`cocobench eval`: evaluate a saved checkpoint on a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cocobench.cli import app
from cocobench.cli.common import OutputFormat, check_format, format_option, json_alias_option, print_json, quiet_option
from cocobench.cli.setting_options import given, option, setting_options, with_options
from cocobench.config import EVALUATION_FIELDS

FORMATS = ("rich", "json")  # metrics, not a table: rich is the summary on stderr, json the metrics on stdout


@app.command("eval")
@with_options(
    option("checkpoint", Path, typer.Option(..., "--checkpoint", help="A checkpoint directory (e.g. runs/X/checkpoints/best).")),
    option("data", Path, typer.Option(..., "--data", help="A split file (JSON/JSONL) or a data directory (its test split is used).")),
    *setting_options(EVALUATION_FIELDS, note="the run's", panels=False),  # the settings an evaluation may change
    option("out", Optional[Path], typer.Option(None, "--out", help="Output directory for results.json. [default: runs/eval-<run>-<data>, with -k<k> when --k is given]")),
    option("overwrite", bool, typer.Option(False, "--overwrite", help="Write into an --out directory that already holds files (its results are replaced).")),
    option("quiet", bool, quiet_option("No progress output.")),
    option("output_format", OutputFormat, format_option(FORMATS, "the metrics (rich: the summary on stderr; json: the metrics on stdout)")),
    option("json_output", bool, json_alias_option()),
)
def eval_command(checkpoint: Path, data: Path, out: Path | None, overwrite: bool, quiet: bool, output_format: OutputFormat, json_output: bool, **settings) -> None:
    """Evaluate a saved model; the checkpoint carries its method and settings, the options override them."""
    from cocobench.checkpoint_eval import evaluate_checkpoint

    output = check_format(output_format, "eval", FORMATS, json_alias=json_output)
    overrides = given(settings) | {"quiet": quiet}  # output, not a setting: never inherited from the run (which may have been --quiet)
    results = evaluate_checkpoint(checkpoint, data, overrides, out, overwrite=overwrite)
    if output == "json":
        print_json({k: v for k, v in results["metrics"].items() if k != "epochs"} | {"run_name": results["run_name"]})
