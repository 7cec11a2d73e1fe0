"""Generation-based evaluation: accuracy, generated-token and forward-pass counts, per-sample records."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from cocobench.examples import Example
from cocobench.scoring import is_correct

CHANCE_P = 0.01  # a choice whose binomial p against a coin flip is this or more is reported as at chance


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    samples: list[dict[str, Any]]


@torch.no_grad()
def evaluate(model, tokenizer, method, examples: list[Example], *, k: int | None, max_new_tokens: int, batch_size: int, stop_classifier=None, max_thoughts: int | None = None, progress=None) -> Evaluation:
    """Greedy-decode every example with the method's inference prompt and score it (`cocobench.scoring`).

    Under torchrun every process decodes its share (examples[rank::world_size]) and the samples are
    gathered back in example order on every process: the same samples as one process makes."""
    from cocobench import distributed
    from cocobench.engine import generate
    from cocobench.tokenizer import token_ids

    from cocobench.tasks import detect_task

    ids = token_ids(tokenizer)
    task = detect_task(examples[0]) if examples else None
    options_of = task.options if task is not None else (lambda example: None)
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
            max_new_tokens=method.generation_limit(max_new_tokens),
            feed=method.thought_feed or "hidden",
            stop_classifier=stop_classifier,
            max_thoughts=max_thoughts,
        )
        for i, gen in zip(batch, generations):
            text = tokenizer.decode(gen.token_ids, skip_special_tokens=True)
            prediction = method.read_answer(text)
            correct = is_correct(prediction, examples[i]["answer"])
            samples[i] = {
                "idx": i,
                "prediction": prediction,
                "gold": examples[i]["answer"],
                "correct": correct,
                "generated_tokens": gen.generated_tokens,
                "forward_passes": gen.forward_passes,
                "num_thoughts": gen.num_thoughts,
                "text": text,
            }
            options = options_of(examples[i])
            if options is not None:
                samples[i]["choice"] = choice(prediction, correct, options)
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


def choice(prediction: str, correct: bool, options: tuple[str, ...]) -> str:
    """Which option a prediction names: "right" (scored correct), "other" (another option) or "neither"."""
    if correct:
        return "right"
    return "other" if any(is_correct(prediction, option) for option in options) else "neither"


def choice_metrics(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Of the answers that name an option: how many (`choice_named`), the share naming the right one
    (`choice_accuracy`, None if none does) and the exact two-sided binomial p of that share against a
    coin flip (`choice_p`): a two-option task whose choice has p >= 0.01 is answered at chance."""
    from cocobench.stats import mcnemar_exact

    if not samples or "choice" not in samples[0]:
        return {}
    right = sum(s["choice"] == "right" for s in samples)
    named = right + sum(s["choice"] == "other" for s in samples)
    return {"choice_named": named, "choice_accuracy": right / named if named else None,
            "choice_p": mcnemar_exact(named - right, right)}  # McNemar's exact test is the binomial test at 1/2


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
        **choice_metrics(samples),
    }
