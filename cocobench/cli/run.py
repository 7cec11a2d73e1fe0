"""`cocobench run`: train a method on a task and evaluate it on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cocobench.cli import app
from cocobench.cli.common import OutputFormat, check_format, format_option, json_alias_option, print_json, quiet_option, show_defaults

FORMATS = ("rich", "json")  # metrics, not a table: rich is the summary on stderr, json the metrics on stdout


@app.command("run")
@show_defaults
def run(
    task: Optional[str] = typer.Option(None, "--task", help="prosqa | prontoqa | mult | gsm; without --data its default data is generated (made once). [default: prosqa, the paper's headline task, when no --data]"),
    data: Optional[Path] = typer.Option(None, "--data", help="Directory with train/valid/test splits (JSON or JSONL in the example format)."),
    method: Optional[str] = typer.Option(None, "--method", "-m", help="cot, no-cot, icot, pause, coconut, coconut-no-curriculum, coconut-no-thought, pause-as-thought, pause-multipass. [default: coconut]"),
    model: Optional[str] = typer.Option(None, "--model", help="Preset (gpt2-tiny, gpt2-cpu, gpt2-124m, llama-tiny), a save_pretrained directory, or a Hugging Face hub id (cache first, downloaded when needed). [default: gpt2-tiny]"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML file of settings (same names as these options); the command line wins."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for initialisation, data order and sampling. [default: 0]"),
    out: Optional[Path] = typer.Option(None, "--out", help="Run directory. [default: runs/<task>-<method>-seed<seed>, with the options that differ from the defaults before the seed, e.g. runs/prosqa-coconut-c2-seed0]"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Start from this checkpoint's weights (e.g. a CoT-trained stage 0)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run in --out from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over in a run directory that already holds files: what a run wrote there (checkpoints, results, config, logs) is removed first; never with --resume."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs. [default: 50]"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Examples per micro-batch (per process). [default: 32]"),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum", help="Micro-batches per optimizer step. [default: 4]"),
    lr: Optional[float] = typer.Option(None, "--lr", help="AdamW learning rate (constant). [default: 1e-4]"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="AdamW weight decay. [default: 0.01]"),
    grad_clip: Optional[float] = typer.Option(None, "--grad-clip", help="Max gradient norm (iCoT uses 1.0). [default: none]"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Generation limit per example. [default: 128]"),
    eval_batch_size: Optional[int] = typer.Option(None, "--eval-batch-size", help="Examples per generation batch. [default: 64]"),
    limit_train: Optional[int] = typer.Option(None, "--limit-train", help="Use only the first N training examples."),
    limit_eval: Optional[int] = typer.Option(None, "--limit-eval", help="Use only the first N validation and test examples."),
    c: Optional[int] = typer.Option(None, "--c", help="Continuous thoughts per reasoning step. [default: 1]"),
    max_latent_stage: Optional[int] = typer.Option(None, "--max-latent-stage", help="Last curriculum stage. [default: 6]"),
    epochs_per_stage: Optional[int] = typer.Option(None, "--epochs-per-stage", help="Epochs per curriculum stage. [default: 5]"),
    pad_latent_to_max: Optional[bool] = typer.Option(None, "--pad-latent-to-max/--no-pad-latent-to-max", help="Past the last stage use max_latent_stage*c thoughts for every example. [default: on]"),
    uniform_prob: Optional[float] = typer.Option(None, "--uniform-prob", help="Probability of training an example at a stage drawn uniformly from 0..#steps (Coconut family), for the analysis model of `analyze ksweep`/`probe`: the paper (v2) and the authors' README say 0.3, the first author later recalled 0.05; the main runs use 0. [default: 0]"),
    reset_optimizer: Optional[str] = typer.Option(None, "--reset-optimizer", help="stage (paper) | epoch (official code) | never. [default: stage]"),
    latent_stop: Optional[str] = typer.Option(None, "--latent-stop", help="fixed number of thoughts | classifier (learned stop probe). [default: fixed]"),
    k: Optional[int] = typer.Option(None, "--k", help="Thoughts at inference; more than training used is allowed (bounded by the model's context). [default: max_latent_stage*c]"),
    max_thoughts: Optional[int] = typer.Option(None, "--max-thoughts", help="Cap on thoughts with --latent-stop classifier. [default: max_latent_stage*c]"),
    pause_tokens: Optional[int] = typer.Option(None, "--pause-tokens", help="Pause tokens for the pause method. [default: max_latent_stage*c]"),
    remove_per_epoch: Optional[int] = typer.Option(None, "--remove-per-epoch", help="iCoT: CoT tokens removed per epoch. [default: 8]"),
    removal_smoothing: Optional[float] = typer.Option(None, "--removal-smoothing", help="iCoT: lambda of the removal smoothing. [default: 4]"),
    remove_all_after: Optional[int] = typer.Option(None, "--remove-all-after", help="iCoT: drop the whole chain once this many tokens are scheduled. [default: never]"),
    precision: Optional[str] = typer.Option(None, "--precision", help="auto (bf16 autocast on CUDA, fp32 on CPU) | fp32 (TF32 matmuls on CUDA) | bf16 (autocast). [default: auto]"),
    fsdp: bool = typer.Option(False, "--fsdp", help="Under torchrun: shard the model with FSDP2 instead of replicating it with DDP (for models that do not fit one device)."),
    wandb: bool = typer.Option(False, "--wandb", help="Log to Weights & Biases (needs the wandb package)."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="Log to TensorBoard (needs the tensorboard package)."),
    quiet: bool = quiet_option("No progress output."),
    output_format: OutputFormat = format_option(FORMATS, "the metrics (rich: the summary on stderr; json: the metrics on stdout)"),
    json_output: bool = json_alias_option(),
) -> None:
    """Train METHOD on a task, evaluate it on the test split and write the run directory.

    The run directory holds config.yaml (resolved settings), results.json and checkpoints/{last,best}.
    Settings come from defaults < --config YAML < the command line.
    """
    from cocobench.config import load_yaml, resolve_config
    from cocobench.errors import CocobenchError, Interrupted
    from cocobench.runner import run_dir_of, run_experiment

    output = check_format(output_format, "run", FORMATS, json_alias=json_output)
    if resume and overwrite:
        raise CocobenchError("--resume continues the run in its directory and --overwrite starts it over; pass one of them")
    flags = {"resume": resume, "overwrite": overwrite, "wandb": wandb, "tensorboard": tensorboard, "quiet": quiet, "fsdp": fsdp}
    overrides = {name: value for name, value in locals().items() if name not in {"config", "json_output", "output_format", "output", "flags", *flags}}
    overrides = {k: (str(v) if isinstance(v, Path) else v) for k, v in overrides.items()}
    overrides.update({name: value or None for name, value in flags.items()})
    overrides["overwrite"] = overwrite  # never inherited: a resume reads config.yaml, which a run started over records
    base = None
    if resume:  # a resumed run keeps its saved settings; the runner refuses changes to those that define the result
        run_dir = out if out is not None else run_dir_of(resolve_config(config, overrides))  # where a fresh run would go
        if (run_dir / "config.yaml").is_file():
            base = load_yaml(run_dir / "config.yaml")
    cfg = resolve_config(config, overrides, base=base)
    try:
        results = run_experiment(cfg)
    except KeyboardInterrupt:
        raise Interrupted(f"resume with cocobench run --out {run_dir_of(cfg)} --resume") from None
    if output == "json":
        print_json({k: v for k, v in results["metrics"].items() if k != "epochs"} | {"run_name": results["run_name"]})
