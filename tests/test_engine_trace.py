"""Generation's analysis hooks (keep_thoughts, logits_at) against the training forward, on tiny GPT-2 and Llama models."""

from __future__ import annotations

import pytest
import torch

from cocobench.engine import generate, latent_forward
from tests.conftest import lm_head_inputs
from tests.test_engine import TOL, prompts_of, setup, words  # noqa: F401  (setup is a fixture)


def forward_of(model, ids, sequence: list[int]):
    """latent_forward on one unpadded row: (hidden (T, C), logits (T, V))."""
    out = latent_forward(model, torch.tensor([sequence]), torch.ones(1, len(sequence), dtype=torch.long), latent_id=ids.latent)
    return out.hidden[0], out.logits[0]


def thoughts_of(model, ids, sequence: list[int]) -> torch.Tensor:
    """The continuous thoughts of a sequence by the training forward: the hidden state at the position
    before each <|latent|> (what the engine feeds there)."""
    hidden, _ = forward_of(model, ids, sequence)
    slots = [p for p, token in enumerate(sequence) if token == ids.latent]
    return hidden[[p - 1 for p in slots]] if slots else hidden[:0]


@pytest.mark.slow
@pytest.mark.parametrize("use_cache", [True, False])
def test_kept_thoughts_equal_the_training_forward(setup, use_cache):
    """Rows with 3, 1, 0 (pauses only) and 2 latents in one batch: each row's thoughts are the training
    forward's hidden states before its latents, in order, and the batch hands out what each row alone does."""
    model, ids, vocab = setup
    prompts = prompts_of(ids, vocab)
    generations = generate(model, prompts, ids=ids, max_new_tokens=3, keep_thoughts=True, use_cache=use_cache)
    assert [g.trace.thoughts.shape[0] for g in generations] == [g.num_thoughts for g in generations] == [3, 1, 0, 0, 2]
    for prompt, generation in zip(prompts, generations):
        expected = thoughts_of(model, ids, prompt)
        assert generation.trace.thoughts.shape == expected.shape
        assert torch.allclose(generation.trace.thoughts, expected, atol=TOL)
        alone = generate(model, [prompt], ids=ids, max_new_tokens=3, keep_thoughts=True, use_cache=use_cache)[0]
        assert torch.allclose(alone.trace.thoughts, generation.trace.thoughts, atol=TOL)


def test_thoughts_generated_here_are_kept_in_order(setup):
    """A prompt ending in bot thinks in the engine (a fixed cap of 3): the kept thoughts equal those of
    the same prompt written out with its 3 latents, whose hidden states the training forward computes."""
    model, ids, vocab = setup
    question = words(5, vocab, 51)
    (generation,) = generate(model, [question + [ids.bot]], ids=ids, max_new_tokens=2, max_thoughts=3, keep_thoughts=True)
    assert generation.num_thoughts == 3
    expected = thoughts_of(model, ids, question + [ids.bot] + [ids.latent] * 3 + [ids.eot])
    assert torch.allclose(generation.trace.thoughts, expected, atol=TOL)


def test_logits_at_chosen_steps_equal_the_training_forward(setup):
    """logits_at=(0, 2): the logits each chosen token was picked from, i.e. the training forward's last
    logits on prompt + the tokens before it; steps never reached are absent."""
    model, ids, vocab = setup
    prompt = prompts_of(ids, vocab)[4]
    (generation,) = generate(model, [prompt], ids=ids, max_new_tokens=5, logits_at=(0, 2, 99))
    assert sorted(generation.trace.logits) == [0, 2] and generation.trace.thoughts.shape[0] == 0
    for step, logits in generation.trace.logits.items():
        _, expected = forward_of(model, ids, prompt + generation.token_ids[:step])
        assert torch.allclose(logits, expected[-1], atol=1e-4)
        assert int(logits.argmax()) == (generation.token_ids + [ids.eos])[step]


def test_asking_for_a_trace_changes_nothing_else(setup):
    """With the hooks on, the same tokens, counts and, bit for bit, the same hidden states at every step."""
    model, ids, vocab = setup
    prompts = prompts_of(ids, vocab)
    with lm_head_inputs(model) as plain_reads:
        plain = generate(model, prompts, ids=ids, max_new_tokens=6)
    with lm_head_inputs(model) as traced_reads:
        traced = generate(model, prompts, ids=ids, max_new_tokens=6, keep_thoughts=True, logits_at=(0, 1))
    assert traced == plain and all(g.trace is None for g in plain)
    assert len(plain_reads) == len(traced_reads) and all(torch.equal(a, b) for a, b in zip(plain_reads, traced_reads))
