"""Time the latent engine on CPU: a training step with continuous thoughts, and batched generation.

    python benchmarks/engine_speed.py [--repeats 5] [--baseline-examples 12] [--rounds 3]

Setting: the gpt2-cpu preset (4 layers, 256 wide, 4 heads, random init), fp32, torch.set_num_threads(2),
the official ProsQA validation examples (../shared/data/prosqa/prosqa_valid.json beside the repo), and
glibc's malloc keeping freed memory as under the `cocobench` command (COCOBENCH_SYSTEM_MALLOC=1: not).
(a) One training step (forward + backward + AdamW) on 32 Coconut sequences with 6 continuous thoughts
    (Q bot <latent>x6 eot remaining-steps answer), against a plain step of the model on the same padded
    batch with the latent tokens replaced by an ordinary word (one ordinary pass). Target: ratio <= 1.3.
    The steps run on a copy of the model, so (b) sees the freshly initialised one.
(b) Greedy evaluation of 300 examples, prompt Q bot <latent>x6 eot, up to 32 new tokens (the random
    model never emits EOS, so every row makes all 32): batched generation with the KV cache (batches of
    similar prompt lengths, as `evaluate` makes them) against one example at a time without it (timed
    on --baseline-examples examples spread evenly over the 300, extrapolated per example). Target:
    speedup >= 30x. Also timed: the prefill alone (the same batches cut before the first thought, no
    new tokens), which bounds the speedup from above. Each round times every batch followed by its
    prefill and its share of the baseline examples, so machine noise hits all three alike; the median
    round's ratio is reported.
A benchmark, not a test: nothing is asserted. The last line is a JSON object with the raw numbers.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "prosqa" / "prosqa_valid.json"
THOUGHTS = 6
BATCH = 32
EVAL_EXAMPLES = 300
MAX_NEW_TOKENS = 32


def coconut_example(tokenizer, ids, example) -> tuple[list[int], list[int]]:
    """(prompt, continuation) at the final stage: Q bot <latent>x6 eot | S_7.. "### answer" EOS."""
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    prompt = encode(example["question"] + "\n") + [ids.bot] + [ids.latent] * THOUGHTS + [ids.eot]
    continuation = [t for step in example["steps"][THOUGHTS:] for t in encode(step + "\n")] + encode("### " + example["answer"]) + [ids.eos]
    return prompt, continuation


def right_pad(rows: list[tuple[list[int], list[int]]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(x) for x, _ in rows)
    input_ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in rows])  # (B, T)
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x, _ in rows])  # (B, T)
    labels = torch.tensor([y + [-100] * (width - len(y)) for _, y in rows])  # (B, T)
    return input_ids, mask, labels


def time_training(model, ids, input_ids, mask, labels, word: int, repeats: int) -> dict:
    from cocobench.engine import latent_forward

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    plain_ids = input_ids.masked_fill(input_ids == ids.latent, word)

    def latent_step():
        latent_forward(model, input_ids, mask, labels, latent_id=ids.latent).loss.backward()

    def plain_step():
        model(input_ids=plain_ids, attention_mask=mask, labels=labels).loss.backward()

    def timed(step) -> float:
        start = time.perf_counter()
        step()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    model.train()
    timed(latent_step), timed(plain_step)  # warm-up
    latent, plain = [], []
    for _ in range(repeats):  # interleaved, so that a noisy neighbour hits both alike
        latent.append(timed(latent_step))
        plain.append(timed(plain_step))
    return {"latent_step_s": latent, "plain_step_s": plain, "train_step_ratio": statistics.median(latent) / statistics.median(plain)}


def time_generation(model, ids, prompts: list[list[int]], batch_size: int, baseline_examples: int, rounds: int) -> dict:
    from cocobench.engine import generate
    from cocobench.evaluate import batches_by_length

    model.eval()
    batches = list(batches_by_length([len(p) for p in prompts], batch_size))  # as `evaluate` batches
    # The prompts cut after the prefill (question and bot, up to the first thought), asked for no tokens:
    # the one pass per row that batching cannot share, so the floor of the batched path.
    heads = [p[: p.index(ids.latent)] for p in prompts]
    subset = list(range(0, len(prompts), len(prompts) // baseline_examples))[:baseline_examples]  # spread over the file
    shares = [subset[i :: len(batches)] for i in range(len(batches))]  # baseline examples timed after each batch

    def timed(run):
        start = time.perf_counter()
        out = run()
        return out, time.perf_counter() - start

    batched, slow = [None] * len(prompts), {}
    seconds = {"batched": [], "prefill": [], "baseline": []}  # per round
    for _ in range(rounds):
        total = dict.fromkeys(seconds, 0.0)
        for batch, share in zip(batches, shares):  # interleaved, so that a noisy neighbour slows all three alike
            out, dt = timed(lambda: generate(model, [prompts[i] for i in batch], ids=ids, max_new_tokens=MAX_NEW_TOKENS))
            total["batched"] += dt
            for i, generation in zip(batch, out):
                batched[i] = generation
            total["prefill"] += timed(lambda: generate(model, [heads[i] for i in batch], ids=ids, max_new_tokens=0))[1]
            for i in share:
                slow[i], dt = timed(lambda: generate(model, [prompts[i]], ids=ids, max_new_tokens=MAX_NEW_TOKENS, use_cache=False)[0])
                total["baseline"] += dt
        for name in seconds:
            seconds[name].append(total[name])
    per_example = {name: [t / (len(subset) if name == "baseline" else len(prompts)) for t in times] for name, times in seconds.items()}
    speedups = [b / x for b, x in zip(per_example["baseline"], per_example["batched"])]
    ceilings = [b / x for b, x in zip(per_example["baseline"], per_example["prefill"])]
    return {
        "eval_batch": batch_size,
        "rounds": rounds,
        "batched_cached_s": seconds["batched"],
        "batched_examples_per_s": len(prompts) / statistics.median(seconds["batched"]),
        "baseline_subset": len(subset),
        "baseline_subset_s": seconds["baseline"],
        "baseline_examples_per_s": len(subset) / statistics.median(seconds["baseline"]),
        "same_outputs": all(slow[i] == batched[i] for i in subset),
        "mean_forward_passes": statistics.mean(g.forward_passes for g in batched),
        "mean_generated_tokens": statistics.mean(g.generated_tokens for g in batched),
        "speedups": speedups,
        "generate_speedup": statistics.median(speedups),
        "prefill_s": seconds["prefill"],
        "speedup_ceiling": statistics.median(ceilings),  # if every pass after the prefill were free
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed training steps of each kind")
    parser.add_argument("--baseline-examples", type=int, default=12, help="examples (spread over the set) the slow generation baseline is timed on")
    parser.add_argument("--eval-batch", type=int, default=BATCH, help="prompts per generation batch (the issue's setting: 32; `evaluate` defaults to 64)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the generation timing (the median is reported)")
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"error: {DATA} not found: the official ProsQA data must be in ../shared/data/prosqa/ beside the repository")

    from cocobench.allocator import keep_freed_memory
    from cocobench.examples import load_examples, sequence_text
    from cocobench.models import build_model_and_tokenizer
    from cocobench.tokenizer import token_ids

    torch.set_num_threads(2)
    malloc_kept = keep_freed_memory()  # as the cocobench command runs (COCOBENCH_SYSTEM_MALLOC=1: glibc's defaults)
    examples = load_examples(DATA)
    model, tokenizer = build_model_and_tokenizer("gpt2-cpu", [sequence_text(e) for e in examples], seed=0)
    ids = token_ids(tokenizer)
    word = tokenizer.convert_tokens_to_ids(" is")

    encoded = [coconut_example(tokenizer, ids, e) for e in examples]
    # Training sequences: loss on the continuation only (the question and thought block get -100).
    input_ids, mask, labels = right_pad([(p + c, [-100] * len(p) + c) for p, c in encoded[:BATCH]], ids.pad)
    print(f"(a) training step: batch {BATCH} x {input_ids.shape[1]} tokens, {THOUGHTS} continuous thoughts per row", flush=True)
    # A copy takes the optimizer steps, so generation below runs the same freshly initialised model whatever --repeats is.
    train = time_training(copy.deepcopy(model), ids, input_ids, mask, labels, word, args.repeats)
    print(f"    latent step {statistics.median(train['latent_step_s']):.3f} s, plain step {statistics.median(train['plain_step_s']):.3f} s (medians of {args.repeats})")
    print(f"    ratio {train['train_step_ratio']:.2f}  (target <= 1.3)", flush=True)

    prompts = [p for p, _ in encoded[:EVAL_EXAMPLES]]
    print(f"(b) generation: {len(prompts)} prompts Q bot <latent>x{THOUGHTS} eot, up to {MAX_NEW_TOKENS} new tokens", flush=True)
    gen = time_generation(model, ids, prompts, args.eval_batch, args.baseline_examples, args.rounds)
    median = statistics.median
    print(f"    batched (batch {args.eval_batch}, KV cache, length-sorted): {median(gen['batched_cached_s']):.2f} s = {gen['batched_examples_per_s']:.1f} examples/s")
    print(f"    one at a time, no cache: {median(gen['baseline_subset_s']):.2f} s for {gen['baseline_subset']} spread over the set = {gen['baseline_examples_per_s']:.2f} examples/s (extrapolated)")
    print(f"    speedup {gen['generate_speedup']:.1f}x, median of {args.rounds} interleaved rounds ({', '.join(f'{x:.1f}' for x in gen['speedups'])})  (target >= 30x)")
    print(f"    same outputs on the subset: {gen['same_outputs']}; {gen['mean_forward_passes']:.1f} passes per example")
    print(f"    of the batched time, {median(gen['prefill_s']):.2f} s is the prompts' prefill alone (question + bot, one pass per row):")
    print(f"    with every later pass free the speedup could reach at most {gen['speedup_ceiling']:.1f}x")
    print(json.dumps({"train_step_ratio": round(train["train_step_ratio"], 3), "generate_speedup": round(gen["generate_speedup"], 1), "sequence_length": input_ids.shape[1], "malloc_kept": malloc_kept, **train, **gen}))


if __name__ == "__main__":
    main()
