"""Evaluation batches prompts by length; the batching must not change any sample or its order."""

from __future__ import annotations

import torch

from cocobench.config import RunConfig
from cocobench.evaluate import batches_by_length, evaluate
from cocobench.examples import sequence_text
from cocobench.methods import get_method
from cocobench.models import build_model_and_tokenizer


def test_batches_by_length_groups_similar_lengths_and_covers_every_index_once():
    lengths = [5, 1, 9, 1, 7, 3, 9]
    batches = batches_by_length(lengths, 3)
    assert batches == [[1, 3, 5], [0, 4, 2], [6]]  # ties keep their original order
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert batches_by_length([], 4) == []


def test_evaluate_is_independent_of_the_batch_size(tiny_prosqa):
    from cocobench.examples import load_examples

    examples = load_examples(tiny_prosqa / "test.json")
    torch.manual_seed(0)
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", [sequence_text(e) for e in load_examples(tiny_prosqa / "train.json")], seed=0)
    method = get_method("coconut", RunConfig(method="coconut", c=1, max_latent_stage=2), tokenizer)
    one_by_one = evaluate(model, tokenizer, method, examples, k=2, max_new_tokens=12, batch_size=1)
    batched = evaluate(model, tokenizer, method, examples, k=2, max_new_tokens=12, batch_size=3)
    assert [s["idx"] for s in batched.samples] == list(range(len(examples)))  # example order, not batch order
    assert batched.samples == one_by_one.samples
    assert all(s["gold"] == e["answer"] for s, e in zip(batched.samples, examples))
