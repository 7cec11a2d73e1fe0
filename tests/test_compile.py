"""`models.compile_transformer` (the GPU check's compile step): a torch.compile'd transformer body
gives the eager latent forward and gradients, in at most four graphs that later batches reuse. On the CPU
with dynamo's `eager` backend, which captures the graphs as inductor would but runs them with
PyTorch's own kernels, so any difference is the capture's (tests/test_cuda.py checks inductor's
generated code on a GPU)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch

from cocobench.engine import latent_forward
from cocobench.models import build_model_and_tokenizer, compile_transformer
from cocobench.tokenizer import token_ids

sys.path.insert(0, str(Path(__file__).parent))
from test_engine import TEXTS, batch_of, training_rows, words


def forward_and_grads(model, ids, input_ids, mask, labels):
    model.zero_grad(set_to_none=True)
    out = latent_forward(model, input_ids, mask, labels, latent_id=ids.latent)
    out.loss.backward()
    return out, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.slow
def test_a_compiled_transformer_trains_like_the_eager_one_in_at_most_four_graphs():
    from torch._dynamo.utils import counters  # here, not at the top: importing dynamo costs a second of every test run

    torch._dynamo.reset()
    counters.clear()
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", TEXTS, seed=0)
    ids, vocab = token_ids(tokenizer), len(tokenizer)
    model.eval()  # no dropout: the two forwards would draw different masks
    compiled = copy.deepcopy(model)
    compile_transformer(compiled, backend="eager")
    # Latents at different places and counts: passes of other widths and cache lengths on every call.
    batch = batch_of(training_rows(ids, vocab), ids.pad)
    expected, expected_grads = forward_and_grads(model, ids, *batch)
    got, grads = forward_and_grads(compiled, ids, *batch)
    assert torch.allclose(got.loss, expected.loss, atol=1e-6)
    assert torch.allclose(got.hidden, expected.hidden, atol=1e-5)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        assert torch.allclose(grad, expected_grads[name], atol=1e-5), name
    assert not counters["graph_break"]
    # Other batches (other lengths, latent counts and batch sizes) reuse the graphs: dynamic shapes.
    # At most four, whatever the depth: the first pass, a thought's one-column pass, and a later
    # multi-column pass whose mask is the whole mask or a prefix of it (another stride).
    L = ids.latent
    for seed, (n_latent, batch_rows) in enumerate([(4, 2), (2, 3), (6, 5)]):
        rows = [words(3 + 2 * r, vocab, 20 + seed * 10 + r) + [ids.bot] + [L] * max(1, n_latent - r) + [ids.eot] + words(2 + r, vocab, 40 + r) for r in range(batch_rows)]
        other = batch_of(rows, ids.pad)
        assert torch.allclose(forward_and_grads(compiled, ids, *other)[0].loss, forward_and_grads(model, ids, *other)[0].loss, atol=1e-6)
    assert counters["stats"]["unique_graphs"] <= 4 and not counters["graph_break"]
