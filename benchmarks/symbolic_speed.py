"""Training throughput on symbolic ProsQA: the harness's epoch against a plain PyTorch loop.

    python benchmarks/symbolic_speed.py [--data data/prosqa-symbolic] [--model gpt2-2l-128] [--examples 1024] [--rounds 3]

Both sides train the same freshly initialised model (a copy each) on the same examples, batch size and
sequences, from the same settings; fp32, one thread (OMP_NUM_THREADS=1 is set before torch loads):
- harness: `cocobench.train.train` for one epoch (its batching, augmentation and tokenisation, the
  latent engine, AdamW, the epoch's checkpoint; no validation);
- plain: the same epoch's batches built once beforehand, then only forward, backward and AdamW per batch
  (`model(**batch).loss` for CoT; for Coconut the engine's `latent_forward`, since the thoughts need
  its sequential passes).
Coconut is timed at stage 2 of next-node supervision (epoch 2 with --epochs-per-stage 1). Rounds
alternate harness and plain, so machine load hits both alike; the median round is reported, as
trained tokens (non-padding input tokens) per second, and the harness/plain ratio (target <= 1.1).
A benchmark, not a test: nothing is asserted. The last line is a JSON object with the raw numbers.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/prosqa-symbolic", help="a symbolic ProsQA directory (cocobench gen prosqa --format symbolic)")
    parser.add_argument("--model", default="gpt2-2l-128")
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import random

    import torch

    from cocobench.batches import batch_indices
    from cocobench.config import RunConfig
    from cocobench.engine import latent_forward
    from cocobench.examples import find_split, load_examples
    from cocobench.methods import get_method
    from cocobench.models import build_model_and_tokenizer
    from cocobench.tokenizer import token_ids
    from cocobench.train import make_optimizer, train

    torch.set_num_threads(1)
    examples = load_examples(find_split(args.data, "train"))[: args.examples]
    base, tokenizer = build_model_and_tokenizer(args.model, seed=0, symbolic=True)
    ids = token_ids(tokenizer)
    report = {"model": args.model, "examples": len(examples), "batch_size": args.batch_size, "torch": torch.__version__}
    for name, extra in (("cot", {}), ("coconut", {"supervision": "next-node", "epochs_per_stage": 1, "reset_optimizer": "never"})):
        epoch = 2 if name == "coconut" else 0
        cfg = RunConfig(method=name, model=args.model, batch_size=args.batch_size, grad_accum=1, lr=1e-3, epochs=epoch + 1, **extra)
        method = get_method(name, cfg, tokenizer)
        rng = random.Random(f"method:{cfg.seed}:{epoch}:0")
        batches = [method.collate([method.training_sequence(examples[i], epoch=epoch, batch_index=0, batches_per_epoch=1, rng=rng) for i in b], ids.pad)
                   for b in batch_indices(len(examples), cfg.batch_size, cfg.seed, epoch)]
        tokens = sum(int(b["attention_mask"].sum()) for b in batches)

        def plain() -> float:
            model = copy.deepcopy(base).train()
            optimizer = make_optimizer(cfg, model.parameters())
            start = time.perf_counter()
            for batch in batches:
                if name == "cot":
                    loss = model(**batch).loss
                else:
                    loss = latent_forward(model, batch["input_ids"], batch["attention_mask"], batch["labels"], latent_id=ids.latent).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            return time.perf_counter() - start

        def harness() -> float:
            from cocobench.train import TrainState

            model = copy.deepcopy(base)
            with tempfile.TemporaryDirectory() as run_dir:
                start = time.perf_counter()
                train(cfg, model, tokenizer, method, examples, [], run_dir=Path(run_dir), device="cpu", state=TrainState(epoch=epoch))
                return time.perf_counter() - start

        rounds = [(harness(), plain()) for _ in range(args.rounds)]
        ratios = [h / p for h, p in rounds]
        median = sorted(range(len(rounds)), key=lambda i: ratios[i])[len(rounds) // 2]
        h, p = rounds[median]
        report[name] = {"tokens": tokens, "harness_s": round(h, 3), "plain_s": round(p, 3), "harness_tokens_per_s": round(tokens / h),
                        "plain_tokens_per_s": round(tokens / p), "ratio": round(h / p, 3), "ratios": [round(r, 3) for r in ratios]}
        print(f"{name}: harness {tokens / h:,.0f} tok/s, plain {tokens / p:,.0f} tok/s, harness/plain {h / p:.3f} "
              f"(median of {args.rounds}: {', '.join(f'{r:.3f}' for r in ratios)})")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
