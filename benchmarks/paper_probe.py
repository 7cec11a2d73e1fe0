"""Time the paper's ProsQA Coconut run without running it: a few hundred real training steps and one
validation pass at the paper's sizes, extrapolated to the 50-epoch run.

    python benchmarks/paper_probe.py --device cuda [--steps 200] [--precision fp32] [--json-out F]
    python benchmarks/paper_probe.py --dry-run          # tiny sizes on the CPU, seconds (CI)

The paper's run (the authors' ProsQA config): GPT-2 124M, 17,886 training examples, 50 epochs,
5 per stage, max_latent_stage 6, c 1, effective batch 128 (4 GPUs x 32), validation on 500 examples
after every epoch, fp32. Here: the gpt2-124m preset (GPT-2 small's shape, random init: no weights on a
machine without internet; a word-level vocabulary, so a smaller LM head than GPT-2's 50k), micro-batch
32 x 4 accumulation steps on one device, examples drawn (with repetition) from the ProsQA files given
with --data (the official valid/test files: the training split's distribution).

Measured through cocobench's own trainer (`train.train`: batching, curriculum, the latent forward,
fused AdamW, validation): `--steps` optimizer steps at the final stage (epoch 35 on: every step replaced
by 6 thoughts), `--steps // 4` at stage 0 (plain CoT, the longest sequences), and one validation pass
over 500 examples with 6 thoughts. Extrapolation: epochs 0-4 at the stage-0 cost per step, 35-49 at the
final-stage cost, stages 1-6 (epochs 5-34) interpolated linearly between the two (each stage swaps one
language step for one thought); plus one validation per epoch. The model and vocabulary are random,
so generation runs to --max-new-tokens on every row: validation time is an upper bound.
A benchmark, not a test: nothing is asserted. The last line printed is the JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
OFFICIAL = REPO.parent / "shared" / "data" / "prosqa"
PAPER = dict(train_examples=17_886, epochs=50, epochs_per_stage=5, max_latent_stage=6, batch=128, valid_examples=500)


def load_pool(data: Path) -> list[dict]:
    """Every example of a file, or of a data directory's splits (meta.json and other files aside)."""
    from cocobench.errors import CocobenchError
    from cocobench.examples import find_split, load_examples

    files = [data]
    if data.is_dir():
        files = []
        for split in ("train", "valid", "test"):
            try:
                files.append(find_split(data, split))
            except CocobenchError:
                pass  # the official directory has valid and test only
        files.sort()  # by name, as the probe in results/gpu/ read them
    pool = [example for file in files for example in load_examples(file)]
    if not pool:
        fail(f"no examples in {data}; pass --data DIR with ProsQA JSON files")
    return pool


def timed_epoch(cfg, model, tokenizer, examples, valid, epoch: int, device) -> dict:
    """One epoch of the real trainer from `epoch` on (its stage), with or without validation."""
    from cocobench.methods import get_method
    from cocobench.train import TrainState, train

    cfg.epochs = epoch + 1
    method = get_method("coconut", cfg, tokenizer)
    with tempfile.TemporaryDirectory() as run_dir:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        state = train(cfg, model, tokenizer, method, examples, valid, run_dir=Path(run_dir), device=device, state=TrainState(epoch=epoch))
        total = time.perf_counter() - start
    record = state.history[-1]
    return {
        "stage": record["stage"],
        "train_s": state.train_seconds,
        "validation_s": record["seconds"] - state.train_seconds if valid else 0.0,
        "total_s": total,  # + checkpoint writing
        "train_loss": record["train_loss"],
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }


def fail(message: str) -> None:
    """Bad input: one line on stderr, exit status 2 (the cocobench command's convention)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="gpt2-124m")
    parser.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16"], help="fp32: the paper's ProsQA precision (TF32 matmuls on CUDA)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps timed at the final stage (a quarter of them at stage 0)")
    parser.add_argument("--batch-size", type=int, default=32, help="micro-batch (the paper's per-GPU 32)")
    parser.add_argument("--grad-accum", type=int, default=4, help="micro-batches per step (32 x 4 = the paper's 128)")
    parser.add_argument("--valid", type=int, default=PAPER["valid_examples"], help="validation examples")
    parser.add_argument("--eval-batch-size", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=128, help="the paper's 128")
    parser.add_argument("--data", type=Path, default=OFFICIAL, help="ProsQA JSON file or directory (default ../shared/data/prosqa)")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU: checks the probe works (seconds)")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.dry_run:
        args.device, args.model, args.steps, args.batch_size, args.grad_accum, args.valid, args.max_new_tokens = "cpu", "gpt2-tiny", 4, 2, 2, 4, 8

    from cocobench.config import RunConfig
    from cocobench.examples import sequence_text
    from cocobench.models import build_model_and_tokenizer

    device = torch.device(args.device)
    if not args.data.exists():
        fail(f"{args.data} not found; pass --data with ProsQA files (e.g. `cocobench gen prosqa --out DIR`)")
    pool = load_pool(args.data)
    rng = random.Random(0)
    effective = args.batch_size * args.grad_accum
    final_examples = [rng.choice(pool) for _ in range(args.steps * effective)]
    stage0_examples = [rng.choice(pool) for _ in range(max(1, args.steps // 4) * effective)]
    valid = [rng.choice(pool) for _ in range(args.valid)]
    model, tokenizer = build_model_and_tokenizer(args.model, [sequence_text(e) for e in pool], seed=0)
    model.to(device)
    cfg = RunConfig(task="prosqa", method="coconut", epochs_per_stage=PAPER["epochs_per_stage"], max_latent_stage=PAPER["max_latent_stage"], c=1,
                    batch_size=args.batch_size, grad_accum=args.grad_accum, eval_batch_size=args.eval_batch_size, max_new_tokens=args.max_new_tokens,
                    lr=1e-4, precision=args.precision, quiet=True)
    params = sum(p.numel() for p in model.parameters())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"{args.model} ({params / 1e6:.1f}M parameters, vocabulary {len(tokenizer)}) on {name}, precision {args.precision}, batch {args.batch_size} x {args.grad_accum}", flush=True)

    final_epoch = (PAPER["max_latent_stage"] + 1) * PAPER["epochs_per_stage"]  # 35: all steps replaced
    # Warm-up (allocator, kernels), then the timed epochs.
    timed_epoch(cfg, model, tokenizer, final_examples[: 2 * effective], [], final_epoch, device)
    stage0 = timed_epoch(cfg, model, tokenizer, stage0_examples, [], 0, device)
    final = timed_epoch(cfg, model, tokenizer, final_examples, valid, final_epoch, device)
    steps0, steps_final = len(stage0_examples) // effective, args.steps
    per_step0, per_step_final = stage0["train_s"] / steps0, final["train_s"] / steps_final
    print(f"stage 0: {steps0} steps in {stage0['train_s']:.1f} s = {per_step0 * 1e3:.0f} ms/step")
    print(f"final stage (6 thoughts): {steps_final} steps in {final['train_s']:.1f} s = {per_step_final * 1e3:.0f} ms/step; "
          f"validation of {len(valid)} examples {final['validation_s']:.1f} s; peak memory {final['peak_memory_gib'] or 0:.2f} GiB")

    steps_per_epoch = math.ceil(PAPER["train_examples"] / PAPER["batch"])
    per_epoch_step = []  # seconds per step of each of the 50 epochs
    for epoch in range(PAPER["epochs"]):
        stage = min(epoch // PAPER["epochs_per_stage"], PAPER["max_latent_stage"] + 1)
        share = stage / (PAPER["max_latent_stage"] + 1)
        per_epoch_step.append(per_step0 + share * (per_step_final - per_step0))
    train_hours = sum(per_epoch_step) * steps_per_epoch / 3600
    validation_hours = PAPER["epochs"] * final["validation_s"] * PAPER["valid_examples"] / len(valid) / 3600
    total_hours = train_hours + validation_hours
    print(f"paper run extrapolated: {PAPER['epochs']} epochs x {steps_per_epoch} steps of {PAPER['batch']}: training {train_hours:.2f} h + "
          f"validation {validation_hours:.2f} h = {total_hours:.2f} h on one {name} (goal: under 1 h on one H100)")
    summary = {
        "model": args.model, "parameters": params, "vocabulary": len(tokenizer), "device": name, "precision": args.precision,
        "batch_size": args.batch_size, "grad_accum": args.grad_accum, "dry_run": args.dry_run,
        "stage0": {**stage0, "steps": steps0, "ms_per_step": per_step0 * 1e3},
        "final_stage": {**final, "steps": steps_final, "ms_per_step": per_step_final * 1e3, "validation_examples": len(valid)},
        "paper_run": {**PAPER, "steps_per_epoch": steps_per_epoch, "train_hours": train_hours, "validation_hours": validation_hours, "total_hours": total_hours},
    }
    print(json.dumps(summary))
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
