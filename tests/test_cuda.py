"""The CUDA path on a GPU (skipped without one; `benchmarks/gpu_check.sh` runs these): the engine's
equivalences at each precision, and a training loop that never waits for the GPU.

Tolerances: fp32 here allows TF32 matmuls (10-bit mantissa), so hidden states agree to ~1e-3; bf16
autocast (8-bit mantissa) to ~3e-2. Tokens must still agree exactly where the engine promises it.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest
import torch

from cocobench.device import autocast, configure_matmul
from cocobench.engine import generate, latent_forward
from cocobench.models import build_model_and_tokenizer, compile_transformer
from cocobench.tokenizer import token_ids

sys.path.insert(0, str(Path(__file__).parent))  # the engine tests' rows and slow reference, shared
from test_engine import TEXTS, batch_of, head_reads, prompts_of, reference_forward, training_rows, words

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh runs these)")]

HIDDEN_TOL = {"fp32": 2e-3, "bf16": 6e-2}
LOSS_TOL = {"fp32": 1e-3, "bf16": 2e-2}


@pytest.fixture(scope="module", params=["gpt2-tiny", "llama-tiny"])
def cuda_setup(request):
    model, tokenizer = build_model_and_tokenizer(request.param, TEXTS, seed=0)
    ids = token_ids(tokenizer)
    with torch.no_grad():  # break the latent tokens' ties, as tests/test_engine.py does
        g = torch.Generator().manual_seed(1)
        weight = model.get_input_embeddings().weight
        rows = [ids.bot, ids.latent, ids.eot, ids.pause]
        weight[rows] += 0.05 * torch.randn(len(rows), weight.shape[1], generator=g)
    model.to("cuda").eval()
    return model, ids, len(tokenizer)


@pytest.fixture(params=["fp32", "bf16"])
def precision(request):
    configure_matmul(torch.device("cuda"), request.param)
    return request.param


def test_cached_equals_uncached_and_batched_equals_alone(cuda_setup, precision):
    model, ids, vocab = cuda_setup
    prompts = prompts_of(ids, vocab)
    with autocast("cuda", precision):
        cached = generate(model, prompts, ids=ids, max_new_tokens=6)
        assert generate(model, prompts, ids=ids, max_new_tokens=6, use_cache=False) == cached
        assert [generate(model, [p], ids=ids, max_new_tokens=6)[0] for p in prompts] == cached


def test_gpt2_passes_match_transformers_forward(monkeypatch, precision):
    from cocobench import gpt2_passes

    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", TEXTS, seed=0)
    model.to("cuda").eval()
    ids, vocab = token_ids(tokenizer), len(tokenizer)
    prompts = [words(n, vocab, 40 + n) + [ids.bot] + [ids.latent] * 3 + [ids.eot] for n in (2, 9, 5, 3)]
    with autocast("cuda", precision):
        fast, fast_reads, fast_calls = head_reads(model, prompts, ids, 8)
        monkeypatch.setattr(gpt2_passes, "supports", lambda model: False)
        generic, generic_reads, generic_calls = head_reads(model, prompts, ids, 8)
    assert fast_calls == 0 and generic_calls > 0
    for step, (a, b) in enumerate(zip(fast_reads, generic_reads)):
        assert a.shape == b.shape
        diff = float((a.float() - b.float()).abs().max())
        assert diff <= HIDDEN_TOL[precision], f"step {step}: max abs diff {diff:.2e}"


def test_training_forward_matches_slow_reference(cuda_setup, precision):
    model, ids, vocab = cuda_setup
    input_ids, mask, labels = batch_of(training_rows(ids, vocab), ids.pad)
    with torch.no_grad():
        expected_loss, _, expected_hidden = reference_forward(model, input_ids.cuda(), mask.cuda(), labels.cuda(), latent_id=ids.latent)
        with autocast("cuda", precision):
            out = latent_forward(model, input_ids, mask, labels, latent_id=ids.latent)
    assert abs(out.loss.item() - expected_loss.item()) <= LOSS_TOL[precision]
    for b, hidden in enumerate(expected_hidden):
        got = out.hidden[b][mask[b].bool().cuda()].float()
        assert float((got - hidden).abs().max()) <= HIDDEN_TOL[precision]


@pytest.mark.parametrize("method", ["coconut", "cot"])
def test_training_loop_never_waits_for_the_gpu(tiny_prosqa, tmp_path, method, precision):
    """torch.cuda.set_sync_debug_mode("error") around the step loop: any host read of a GPU value raises."""
    from cocobench.config import RunConfig
    from cocobench.examples import find_split, load_examples, sequence_text
    from cocobench.methods import get_method
    from cocobench.train import train

    train_examples = load_examples(find_split(tiny_prosqa, "train"))[:16]
    cfg = RunConfig(task="prosqa", method=method, epochs=2, epochs_per_stage=1, max_latent_stage=2, batch_size=4, grad_accum=3, grad_clip=1.0, precision=precision)
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", [sequence_text(e) for e in train_examples], seed=0)
    model.to("cuda")
    method_ = get_method(method, cfg, tokenizer)
    state = train(cfg, model, tokenizer, method_, train_examples, [], run_dir=tmp_path, device=torch.device("cuda"), sync_debug=True)
    assert len(state.history) == 2 and all(torch.isfinite(torch.tensor(r["train_loss"])) for r in state.history)


def test_an_inductor_compiled_transformer_trains_like_the_eager_one(precision):
    """The GPU check's compile step (`engine_speed.py --compile inductor`) on the code inductor generates:
    the latent training loss and gradients of the compiled body match the eager one's at the precision's tolerance."""
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", TEXTS, seed=0)
    model.to("cuda").eval()
    ids = token_ids(tokenizer)
    compiled = copy.deepcopy(model)
    compile_transformer(compiled, backend="inductor")
    input_ids, mask, labels = batch_of(training_rows(ids, len(tokenizer)), ids.pad)
    losses, grads = [], []
    for net in (model, compiled):
        with autocast("cuda", precision):
            loss = latent_forward(net, input_ids, mask, labels, latent_id=ids.latent).loss
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten().float() for p in net.parameters()]))
    assert abs(losses[0] - losses[1]) <= LOSS_TOL[precision]
    assert float((grads[0] - grads[1]).abs().max()) <= HIDDEN_TOL[precision]
