"""`models.compile_blocks` (torch.compile'd transformer blocks, the GPU check's compile step): the
latent training forward and its gradients are unchanged. On the CPU with the aot_eager backend, which
traces the blocks and their backward as inductor would but runs them with PyTorch's own kernels, so
any difference is the tracing's (tests/test_cuda.py checks inductor's generated code on a GPU)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch

from cocobench.engine import latent_forward
from cocobench.models import build_model_and_tokenizer, compile_blocks, transformer_blocks
from cocobench.tokenizer import token_ids

sys.path.insert(0, str(Path(__file__).parent))
from test_engine import TEXTS, batch_of, training_rows


def forward_and_grads(model, ids, input_ids, mask, labels):
    model.zero_grad(set_to_none=True)
    out = latent_forward(model, input_ids, mask, labels, latent_id=ids.latent)
    out.loss.backward()
    return out, {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_compiled_blocks_train_like_eager_ones():
    torch.manual_seed(0)
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", TEXTS, seed=0)
    ids = token_ids(tokenizer)
    model.eval()  # no dropout: the two forwards would draw different masks
    compiled = copy.deepcopy(model)
    assert compile_blocks(compiled, backend="aot_eager") == len(transformer_blocks(model)) == model.config.n_layer
    # Latents at different places and counts, so the passes have other widths and cache lengths each
    # call: dynamic shapes, no recompiling per pass.
    input_ids, mask, labels = batch_of(training_rows(ids, len(tokenizer)), ids.pad)
    expected, expected_grads = forward_and_grads(model, ids, input_ids, mask, labels)
    got, grads = forward_and_grads(compiled, ids, input_ids, mask, labels)
    assert torch.allclose(got.loss, expected.loss, atol=1e-6)
    assert torch.allclose(got.hidden, expected.hidden, atol=1e-5)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        assert torch.allclose(grad, expected_grads[name], atol=1e-5), name
    # A batch without latents (one ordinary pass, no cache) through the same compiled blocks.
    plain = batch_of([row for row in training_rows(ids, len(tokenizer)) if ids.latent not in row], ids.pad)
    assert torch.allclose(forward_and_grads(compiled, ids, *plain)[0].loss, forward_and_grads(model, ids, *plain)[0].loss, atol=1e-6)


def test_transformer_blocks_are_the_models_repeated_layers():
    model, _ = build_model_and_tokenizer("llama-tiny", TEXTS, seed=0)
    blocks = transformer_blocks(model)
    assert len(blocks) == model.config.num_hidden_layers and all(type(b).__name__ == "LlamaDecoderLayer" for b in blocks)
