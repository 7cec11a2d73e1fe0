"""Generation-based evaluation: accuracy, generated-token and forward-pass counts, per-sample records."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from cocobench.examples import Example
from cocobench.scoring import extract_answer, is_correct


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    samples: list[dict[str, Any]]


@torch.no_grad()
def evaluate(model, tokenizer, method, examples: list[Example], *, k: int | None, max_new_tokens: int, batch_size: int, stop_classifier=None, max_thoughts: int | None = None, progress=None) -> Evaluation:
    """Greedy-decode every example with the method's inference prompt and score it (SPEC section 1).

    Under torchrun every process decodes its share (examples[rank::world_size]) and the samples are
    gathered back in example order on every process: the same samples as one process makes."""
    from cocobench import distributed
    from cocobench.engine import generate
    from cocobench.tokenizer import token_ids

    ids = token_ids(tokenizer)
    was_training = model.training
    model.eval()
    examples = distributed.shard(examples)
    prompts = [method.inference_prompt(example, k=k) for example in examples]
    samples: list[dict[str, Any] | None] = [None] * len(examples)
    start = time.perf_counter()
    for batch in batches_by_length([len(p) for p in prompts], batch_size):
        generations = generate(
            model,
            [prompts[i] for i in batch],
            ids=ids,
            max_new_tokens=max_new_tokens,
            feed=method.thought_feed or "hidden",
            stop_classifier=stop_classifier,
            max_thoughts=max_thoughts,
        )
        for i, gen in zip(batch, generations):
            text = tokenizer.decode(gen.token_ids, skip_special_tokens=True)
            prediction = extract_answer(text)
            samples[i] = {
                "idx": i,
                "prediction": prediction,
                "gold": examples[i]["answer"],
                "correct": is_correct(prediction, examples[i]["answer"]),
                "generated_tokens": gen.generated_tokens,
                "forward_passes": gen.forward_passes,
                "num_thoughts": gen.num_thoughts,
                "text": text,
            }
        if progress is not None:
            progress(len(batch))
    seconds = time.perf_counter() - start
    model.train(was_training)
    if distributed.world()[1] > 1:  # sharded: gather in example order; the slowest process's time
        samples = distributed.gather_in_order(samples)
        for i, sample in enumerate(samples):
            sample["idx"] = i
        seconds = max(distributed.gather_in_order([seconds]))
    return Evaluation(metrics=summarize(samples, seconds), samples=samples)


def batches_by_length(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices in batches of similar lengths (shortest first), so that a batch carries little padding:
    left padding costs prefill compute and, in every decoding step, KV-cache reads."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[first : first + batch_size] for first in range(0, len(order), batch_size)]


def summarize(samples: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    n = len(samples)
    correct = sum(s["correct"] for s in samples)
    return {
        "accuracy": correct / n if n else 0.0,
        "correct": correct,
        "total": n,
        "generated_tokens_mean": sum(s["generated_tokens"] for s in samples) / n if n else 0.0,
        "forward_passes_mean": sum(s["forward_passes"] for s in samples) / n if n else 0.0,
        "examples_per_second": n / seconds if seconds > 0 else None,
        "eval_seconds": seconds,
    }
