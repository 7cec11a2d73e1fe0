"""Thought decoding (paper Section 4/5: a GSM thought decodes to "180"): each continuous thought read
through the model's own LM head.

A continuous thought is the last-layer hidden state after the final layer norm, the very vector the
LM head turns into next-token logits; here the head is applied to it and the softmax's top tokens are
listed with their probabilities. The thoughts are those greedy generation feeds (`generate(...,
keep_thoughts=True)`): the prompt's `<|latent|>` slots, or the ones the stop classifier lets run.
A CODI model feeds each thought through its projection; what is decoded here is the hidden state
before it (the vector the LM head is trained on), while the projected one is an input embedding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cocobench.errors import CocobenchError
from cocobench.examples import Example


def decode_thoughts(loaded, example: Example, *, k: int | None, top: int) -> dict[str, Any]:
    """Generate one example with its thoughts kept; the top tokens of the LM head on each thought."""
    from cocobench.engine import generate
    from cocobench.scoring import is_correct
    from cocobench.tokenizer import token_ids

    cfg, method, model, tokenizer = loaded.cfg, loaded.method, loaded.model, loaded.tokenizer
    (generation,) = generate(
        model, [method.inference_prompt(example, k=k)], ids=token_ids(tokenizer), max_new_tokens=method.generation_limit(cfg.max_new_tokens), feed=method.thought_feed,
        stop_classifier=loaded.classifier if cfg.latent_stop == "classifier" else None, max_thoughts=cfg.max_thoughts or cfg.max_thoughts_allowed,
        keep_thoughts=True,
    )
    head = model.get_output_embeddings()
    with torch.inference_mode():
        thoughts = generation.trace.thoughts.to(head.weight.device, head.weight.dtype)  # (n, C)
        probabilities = torch.softmax(head(thoughts).float(), -1)  # (n, V)
        best = probabilities.topk(min(top, probabilities.shape[-1]), -1)
    text = tokenizer.decode(generation.token_ids, skip_special_tokens=True)
    return {
        "question": example["question"], "answer": example["answer"], "generated": text,
        "correct": is_correct(method.read_answer(text), example["answer"]), "num_thoughts": generation.num_thoughts,
        "thoughts": [
            {"thought": i + 1, "top": [{"token": tokenizer.decode([token]), "id": token, "probability": p} for token, p in zip(tokens.tolist(), ps.tolist())]}
            for i, (ps, tokens) in enumerate(zip(best.values.cpu(), best.indices.cpu()))
        ],
    }


def run(checkpoint: Path, data: Path, *, index: int, k: int | None, top: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """`cocobench analyze thoughts`: check, load, decode the thoughts of example `index`."""
    from cocobench.progress import quiet_libraries
    from cocobench.checkpoint_eval import check_evaluation_fits, load_for_evaluation, read_test_examples, require_checkpoint_dir

    quiet_libraries()
    if top <= 0:
        raise CocobenchError(f"--top must be a positive number of tokens, got {top}")
    if k is not None and k < 0:
        raise CocobenchError(f"--k must be 0 or more thoughts, got {k}")
    checkpoint = require_checkpoint_dir(checkpoint)
    test_file, examples = read_test_examples(data)
    if not 0 <= index < len(examples):
        raise CocobenchError(f"--index {index} is outside {test_file} ({len(examples)} examples: 0..{len(examples) - 1})")
    loaded = load_for_evaluation(checkpoint, overrides)
    if loaded.method.thought_feed != "hidden":
        raise CocobenchError(f"method '{loaded.cfg.method}' has no continuous thoughts to decode; pass a checkpoint of coconut (or another method that feeds hidden states)")
    check_evaluation_fits(loaded, [examples[index]], (k,))
    return {"checkpoint": str(checkpoint), "test_file": str(test_file), "index": index, "k": k, **decode_thoughts(loaded, examples[index], k=k, top=top)}
