"""`cocobench eval`: evaluate a saved checkpoint on a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cocobench.cli import app
from cocobench.cli.common import OutputFormat, check_format, format_option, json_alias_option, print_json, quiet_option, show_defaults

FORMATS = ("rich", "json")  # metrics, not a table: rich is the summary on stderr, json the metrics on stdout


@app.command("eval")
@show_defaults(from_settings=False)
def eval_command(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="A checkpoint directory (e.g. runs/X/checkpoints/best)."),
    data: Path = typer.Option(..., "--data", help="A split file (JSON/JSONL) or a data directory (its test split is used)."),
    k: Optional[int] = typer.Option(None, "--k", help="Thoughts at inference; more than the run trained with is allowed (bounded by the model's context). [default: the run's]"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Generation limit per example. [default: the run's]"),
    eval_batch_size: Optional[int] = typer.Option(None, "--eval-batch-size", help="Examples per generation batch."),
    limit_eval: Optional[int] = typer.Option(None, "--limit-eval", help="Use only the first N examples."),
    latent_stop: Optional[str] = typer.Option(None, "--latent-stop", help="fixed | classifier (needs a checkpoint trained with one)."),
    max_thoughts: Optional[int] = typer.Option(None, "--max-thoughts", help="Cap on thoughts with --latent-stop classifier."),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 | bf16. [default: the run's]"),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory for results.json. [default: runs/eval-<run>-<data>, with -k<k> when --k is given]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into an --out directory that already holds files (its results are replaced)."),
    quiet: bool = quiet_option("No progress output."),
    output_format: OutputFormat = format_option(FORMATS, "the metrics (rich: the summary on stderr; json: the metrics on stdout)"),
    json_output: bool = json_alias_option(),
) -> None:
    """Evaluate a saved model; the checkpoint carries its method and settings, the options override them."""
    from cocobench.runner import evaluate_checkpoint

    output = check_format(output_format, "eval", FORMATS, json_alias=json_output)

    overrides = {"k": k, "max_new_tokens": max_new_tokens, "eval_batch_size": eval_batch_size, "limit_eval": limit_eval,
                 "latent_stop": latent_stop, "max_thoughts": max_thoughts, "precision": precision,
                 "quiet": quiet}  # output, not a setting: never inherited from the run (which may have been --quiet)
    results = evaluate_checkpoint(checkpoint, data, overrides, out, overwrite=overwrite)
    if output == "json":
        print_json({k: v for k, v in results["metrics"].items() if k != "epochs"} | {"run_name": results["run_name"]})
