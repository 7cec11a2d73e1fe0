"""Evaluation: batching by length changes no sample, a model that says the gold text scores 1.0, and
each method is decoded with its own thought feed."""

from __future__ import annotations

import copy

import pytest
import torch

from cocobench.config import RunConfig
from cocobench.engine import generate
from cocobench.evaluate import batches_by_length, evaluate
from cocobench.examples import load_examples, sequence_text
from cocobench.methods import get_method
from cocobench.methods.base import IGNORE
from cocobench.models import build_model_and_tokenizer
from cocobench.tokenizer import token_ids
from tests.conftest import lm_head_inputs


@pytest.fixture(scope="module")
def tiny(tiny_prosqa):
    """(random gpt2-tiny, its tokenizer, the test examples)."""
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", [sequence_text(e) for e in load_examples(tiny_prosqa / "train.json")], seed=0)
    return model, tokenizer, load_examples(tiny_prosqa / "test.json")


def test_batches_by_length_groups_similar_lengths_and_covers_every_index_once():
    lengths = [5, 1, 9, 1, 7, 3, 9]
    batches = batches_by_length(lengths, 3)
    assert batches == [[1, 3, 5], [0, 4, 2], [6]]  # ties keep their original order
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert batches_by_length([], 4) == []


def test_evaluate_is_independent_of_the_batch_size(tiny):
    model, tokenizer, examples = tiny
    method = get_method("coconut", RunConfig(method="coconut", c=1, max_latent_stage=2), tokenizer)
    one_by_one = evaluate(model, tokenizer, method, examples, k=2, max_new_tokens=12, batch_size=1)
    batched = evaluate(model, tokenizer, method, examples, k=2, max_new_tokens=12, batch_size=3)
    assert [s["idx"] for s in batched.samples] == list(range(len(examples)))  # example order, not batch order
    assert batched.samples == one_by_one.samples
    assert all(s["gold"] == e["answer"] for s, e in zip(batched.samples, examples))


class ScriptedHead(torch.nn.Module):
    """An LM head that ignores the hidden state and says the next token of the current script."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab, self.script, self.position = vocab, [], 0

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        token = self.script[min(self.position, len(self.script) - 1)]
        self.position += 1
        return torch.nn.functional.one_hot(torch.tensor(token), self.vocab).float().expand(*hidden.shape[:-1], self.vocab)


def gold_speaker(model, scripts: dict[tuple[int, ...], list[int]]):
    """A copy of `model` that answers each prompt (one at a time: batch size 1) with its script: the
    generation's prefill embeds the prompt, which picks the script the head then reads out."""
    model = copy.deepcopy(model)
    head = ScriptedHead(model.get_output_embeddings().weight.shape[0])

    def pick_script(module, args, out):
        (input_ids,) = args
        if input_ids.dim() == 2:  # (1, P): a prefill; decoding steps embed (A,)
            head.script, head.position = scripts[tuple(input_ids[0].tolist())], 0

    model.get_input_embeddings().register_forward_hook(pick_script)
    model.set_output_embeddings(head)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cot", "coconut"])
def test_a_model_that_says_the_gold_text_scores_one(name, tiny):
    """Through `evaluate` (decoding, answer extraction, scoring, counting), a stub model that emits
    exactly the supervised part of the method's final-stage training sequence (the chain for CoT, then
    "### answer" and EOS) is right on every example, so scoring cannot silently drop to 0; its token and
    pass counts, per sample and as means, are the ones counted by hand."""
    model, tokenizer, examples = tiny
    method = get_method(name, RunConfig(method=name, c=1, max_latent_stage=2, epochs_per_stage=1), tokenizer)

    def gold(example):
        seq = method.train_sequence(example, epoch=99, batch_index=0, batches_per_epoch=1, rng=None)
        return [token for token, label in zip(seq.input_ids, seq.labels) if label != IGNORE]

    scripts = {tuple(method.inference_prompt(e)): gold(e) for e in examples}
    result = evaluate(gold_speaker(model, scripts), tokenizer, method, examples, k=None, max_new_tokens=200, batch_size=1)
    assert result.metrics["accuracy"] == 1.0 and result.metrics["correct"] == result.metrics["total"] == len(examples)
    thoughts = 2 if name == "coconut" else 0
    for sample, example in zip(result.samples, examples):
        assert sample["correct"] and sample["prediction"] == example["answer"]
        assert sample["text"].endswith("### " + example["answer"])
        answer_tokens = len(gold(example)) - 1  # EOS ends the answer and is not counted
        assert sample["num_thoughts"] == thoughts and sample["generated_tokens"] == answer_tokens + thoughts
        # Passes by hand: the prefill, one per thought, one per emitted token but the last (EOS is read from the pass before).
        assert sample["forward_passes"] == 1 + thoughts + len(gold(example)) - 1
    # Table 1's "passes" column is this mean: one more than the tokens here, so the two cannot be swapped.
    passes = [thoughts + len(gold(example)) for example in examples]
    assert result.metrics["forward_passes_mean"] == pytest.approx(sum(passes) / len(passes))
    assert result.metrics["forward_passes_mean"] == pytest.approx(result.metrics["generated_tokens_mean"] + 1)
    # The same stub answering each question with the next one's answer is right only where they agree.
    shifted = {prompt: scripts[other] for prompt, other in zip(scripts, [*list(scripts)[1:], list(scripts)[0]])}
    wrong = evaluate(gold_speaker(model, shifted), tokenizer, method, examples, k=None, max_new_tokens=200, batch_size=1)
    agree = sum(a["answer"] == b["answer"] for a, b in zip(examples, [*examples[1:], examples[0]]))
    assert wrong.metrics["correct"] == agree < len(examples)


def test_pause_multipass_is_evaluated_with_its_own_feed(tiny):
    """pause-multipass decodes with the fixed pause embedding in its thought slots (its training feed),
    not with hidden states as Coconut does: the LM head reads what generate(feed="pause") gives."""
    model, tokenizer, examples = tiny
    ids = token_ids(tokenizer)
    method = get_method("pause-multipass", RunConfig(method="pause-multipass", c=1, max_latent_stage=2), tokenizer)
    prompt = method.inference_prompt(examples[0], k=2)
    with lm_head_inputs(model) as evaluated:
        evaluate(model, tokenizer, method, examples[:1], k=2, max_new_tokens=1, batch_size=1)
    reads = {}
    for feed in ("pause", "hidden"):
        with lm_head_inputs(model) as reads[feed]:
            generate(model, [prompt], ids=ids, max_new_tokens=1, feed=feed)
    assert len(evaluated) == 1 and torch.equal(evaluated[0], reads["pause"][0])
    assert not torch.allclose(reads["pause"][0], reads["hidden"][0], atol=1e-3)  # the two feeds are told apart
