"""The latent engine against deliberately slow references, on tiny random GPT-2 and Llama models (fp32, CPU)."""

from __future__ import annotations

import copy

import pytest
import torch

from cocobench import gpt2_passes
from cocobench.engine import AppendLayer, Generation, StopClassifier, generate, latent_forward
from cocobench.models import build_model_and_tokenizer
from cocobench.tokenizer import token_ids
from tests.conftest import lm_head_inputs

TEXTS = [
    "Every wumpus is a yumpus. Tom is a wumpus. Is Tom a yumpus or a zumpus?\n### Tom is a yumpus.",
    "Sally is a rempus. Every rempus is a lorpus. Every lorpus is a gorpus.\n### Sally is a gorpus.",
]
ARCHS = ["gpt2-tiny", "llama-tiny"]
TOL = 1e-5


@pytest.fixture(scope="module", params=ARCHS)
def setup(request):
    torch.set_num_threads(1)
    model, tokenizer = build_model_and_tokenizer(request.param, TEXTS, seed=0)
    ids = token_ids(tokenizer)
    with torch.no_grad():  # the latent tokens start as copies of one word; break the ties for sharper tests
        g = torch.Generator().manual_seed(1)
        rows = [ids.bot, ids.latent, ids.eot, ids.pause]
        weight = model.get_input_embeddings().weight
        weight[rows] += 0.05 * torch.randn(len(rows), weight.shape[1], generator=g)
    model.eval()
    return model, ids, len(tokenizer)


def words(n: int, vocab: int, seed: int) -> list[int]:
    """n ordinary word ids (past the 7 special tokens)."""
    return torch.randint(7, vocab, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def batch_of(rows: list[list[int]], pad: int, left: bool = False):
    width = max(map(len, rows))
    pads = [[pad] * (width - len(r)) for r in rows]
    input_ids = torch.tensor([p + r if left else r + p for r, p in zip(rows, pads)])
    mask = torch.tensor([[0] * len(p) + [1] * len(r) if left else [1] * len(r) + [0] * len(p) for r, p in zip(rows, pads)])
    labels = input_ids.masked_fill(mask == 0, -100)
    labels[torch.arange(len(rows)), mask.argmax(1)] = -100  # a row's first token is never predicted
    return input_ids, mask, labels


def training_rows(ids, vocab: int) -> list[list[int]]:
    """Latents at different places and counts, a row without any, and a non-contiguous layout."""
    L = ids.latent
    return [
        words(5, vocab, 1) + [ids.bot, L, L, L, ids.eot] + words(4, vocab, 2),
        words(2, vocab, 3) + [ids.bot, L, ids.eot] + words(6, vocab, 4),
        words(9, vocab, 5),
        words(3, vocab, 6) + [ids.bot, L, L, ids.eot] + words(1, vocab, 7) + [L] + words(2, vocab, 8),
    ]


def reference_forward(model, input_ids, mask, labels, *, latent_id, feed="hidden", pause_id=None, detach=False):
    """Each row alone and unpadded; for each latent in turn, re-run the full model from scratch on the
    sequence so far and put its last hidden state in. Returns (loss, [per-row logits (L, V)], [hidden (L, C)])."""
    embed, body, head = model.get_input_embeddings(), model.base_model, model.get_output_embeddings()
    logits_rows, hidden_rows, total, count = [], [], 0.0, 0
    for b in range(input_ids.shape[0]):
        real = mask[b].bool()
        row, row_labels = input_ids[b][real], labels[b][real]
        x = embed(row)  # (L, C)
        for p in (row == latent_id).nonzero().flatten().tolist():
            if feed == "hidden":
                thought = body(inputs_embeds=x[None, :p]).last_hidden_state[0, -1]
                thought = thought.detach() if detach else thought
            else:
                thought = embed.weight[pause_id]
            x = torch.cat([x[:p], thought[None], x[p + 1 :]])
        hidden = body(inputs_embeds=x[None]).last_hidden_state[0]
        logits = head(hidden)
        targets = row_labels[1:]
        total = total + torch.nn.functional.cross_entropy(logits[:-1], targets, ignore_index=-100, reduction="sum")
        count += int((targets != -100).sum())
        logits_rows.append(logits)
        hidden_rows.append(hidden)
    return total / count, logits_rows, hidden_rows


def count_passes(model):
    calls = []
    handle = model.base_model.register_forward_hook(lambda *args: calls.append(1))
    return calls, handle


# --------------------------------------------------------------------------------------------------
# Training forward


@pytest.mark.parametrize("left", [False, True], ids=["right-padded", "left-padded"])
def test_latent_forward_equals_slow_reference(setup, left):
    model, ids, vocab = setup
    input_ids, mask, labels = batch_of(training_rows(ids, vocab), ids.pad, left=left)
    out = latent_forward(model, input_ids, mask, labels, latent_id=ids.latent)
    loss, logits, hidden = reference_forward(model, input_ids, mask, labels, latent_id=ids.latent)
    assert out.logits.shape == (*input_ids.shape, vocab) and out.hidden.shape[:2] == input_ids.shape
    assert abs(out.loss.item() - loss.item()) <= TOL
    for b in range(len(logits)):
        real = mask[b].bool()
        assert (out.logits[b][real] - logits[b]).abs().max() <= TOL
        assert (out.hidden[b][real] - hidden[b]).abs().max() <= TOL


def test_padding_side_does_not_change_a_row(setup):
    model, ids, vocab = setup
    rows = training_rows(ids, vocab)
    right = latent_forward(model, *batch_of(rows, ids.pad), latent_id=ids.latent)
    left_ids, left_mask, left_labels = batch_of(rows, ids.pad, left=True)
    left = latent_forward(model, left_ids, left_mask, left_labels, latent_id=ids.latent)
    assert abs(right.loss.item() - left.loss.item()) <= TOL
    for b, row in enumerate(rows):
        assert (right.logits[b, : len(row)] - left.logits[b, -len(row) :]).abs().max() <= TOL


def test_gradients_flow_through_the_thoughts(setup):
    model, ids, vocab = setup
    input_ids, mask, labels = batch_of(training_rows(ids, vocab)[:2], ids.pad)
    weight = model.get_input_embeddings().weight

    def grad_of(fn):
        model.zero_grad(set_to_none=True)
        fn().backward()
        return weight.grad.clone()

    engine = grad_of(lambda: latent_forward(model, input_ids, mask, labels, latent_id=ids.latent).loss)
    full = grad_of(lambda: reference_forward(model, input_ids, mask, labels, latent_id=ids.latent)[0])
    cut = grad_of(lambda: reference_forward(model, input_ids, mask, labels, latent_id=ids.latent, detach=True)[0])
    model.zero_grad(set_to_none=True)
    assert torch.allclose(engine, full, atol=1e-6, rtol=1e-4)
    assert (engine - cut).abs().max() > 1e-4  # so part of the gradient came through the recurrence
    question = input_ids[0, :5]
    assert (engine[question].abs().sum(1) > 0).all()


def test_pass_count_and_no_latent_batch_is_one_ordinary_pass(setup):
    model, ids, vocab = setup
    calls, handle = count_passes(model)
    try:
        rows = training_rows(ids, vocab)[:3]  # 3 latents, 1 latent, none
        latent_forward(model, *batch_of(rows, ids.pad), latent_id=ids.latent)
        assert len(calls) == 3 + 1
        calls.clear()
        input_ids, mask, labels = batch_of([words(6, vocab, 9), words(3, vocab, 10)], ids.pad)
        out = latent_forward(model, input_ids, mask, labels, latent_id=ids.latent)
        assert len(calls) == 1
    finally:
        handle.remove()
    plain = model(input_ids=input_ids, attention_mask=mask, labels=labels)
    assert abs(out.loss.item() - plain.loss.item()) <= TOL
    assert (out.logits - plain.logits)[mask.bool()].abs().max() <= TOL


def test_pause_feed_equals_one_ordinary_pass_with_pause_tokens(setup):
    model, ids, vocab = setup
    input_ids, mask, labels = batch_of(training_rows(ids, vocab), ids.pad)
    out = latent_forward(model, input_ids, mask, labels, latent_id=ids.latent, feed="pause", pause_embedding_id=ids.pause)
    paused = input_ids.masked_fill(input_ids == ids.latent, ids.pause)
    plain = model(input_ids=paused, attention_mask=mask, labels=labels)
    assert abs(out.loss.item() - plain.loss.item()) <= TOL
    assert (out.logits - plain.logits)[mask.bool()].abs().max() <= TOL


def test_latent_as_first_token_is_rejected(setup):
    model, ids, vocab = setup
    with pytest.raises(ValueError, match="needs a token before it"):
        latent_forward(model, *batch_of([[ids.latent] + words(3, vocab, 1), words(5, vocab, 2)], ids.pad, left=True), latent_id=ids.latent)


# --------------------------------------------------------------------------------------------------
# Generation


def prompts_of(ids, vocab: int) -> list[list[int]]:
    L = ids.latent
    return [
        words(6, vocab, 11) + [ids.bot] + [L] * 3 + [ids.eot],
        words(2, vocab, 12) + [ids.bot, L, ids.eot],
        words(9, vocab, 13),
        words(4, vocab, 14) + [ids.pause, ids.pause],
        words(3, vocab, 15) + [ids.bot] + [L] * 2 + [ids.eot],
    ]


def test_batched_generation_equals_each_row_alone(setup):
    model, ids, vocab = setup
    prompts = prompts_of(ids, vocab)
    batched = generate(model, prompts, ids=ids, max_new_tokens=6)
    assert [generate(model, [p], ids=ids, max_new_tokens=6)[0] for p in prompts] == batched
    assert [g.num_thoughts for g in batched] == [3, 1, 0, 0, 2]


@pytest.mark.parametrize("feed", ["hidden", "pause"])
def test_cached_generation_equals_uncached(setup, feed):
    model, ids, vocab = setup
    prompts = prompts_of(ids, vocab)
    cached = generate(model, prompts, ids=ids, max_new_tokens=6, feed=feed)
    assert generate(model, prompts, ids=ids, max_new_tokens=6, feed=feed, use_cache=False) == cached


def head_reads(model, prompts, ids, max_new_tokens: int, **options):
    """(generations, the hidden states (A, C) the LM head read at each step, transformer-body calls)."""
    body_calls = []
    hook = model.base_model.register_forward_hook(lambda *args: body_calls.append(1))
    try:
        with lm_head_inputs(model) as read:
            return generate(model, prompts, ids=ids, max_new_tokens=max_new_tokens, **options), read, len(body_calls)
    finally:
        hook.remove()


@pytest.mark.parametrize("use_cache", [True, False])
def test_every_generation_step_reads_what_the_training_forward_computes(setup, use_cache):
    """At every step of a long generation, the hidden state the LM head reads equals latent_forward's at
    the end of prompt + the tokens so far (the thoughts and each column's position included). Token
    comparisons alone miss small errors (a wrong position id shifts the logits but not always the argmax)."""
    model, ids, vocab = setup
    prompt = prompts_of(ids, vocab)[4]  # thoughts, then 12 tokens without EOS in both architectures
    (generation,), read, _ = head_reads(model, [prompt], ids, 12, use_cache=use_cache)
    assert len(read) >= 8, "the test needs a long generation to be meaningful"
    for step, hidden in enumerate(read):
        sequence = prompt + generation.token_ids[:step]
        expected = latent_forward(model, torch.tensor([sequence]), torch.ones(1, len(sequence), dtype=torch.long), latent_id=ids.latent).hidden[0, -1]
        assert torch.allclose(hidden[0], expected, atol=TOL), f"step {step}: max abs diff {float((hidden[0] - expected).abs().max()):.2e}"


@pytest.mark.parametrize("prefill_tokens", [2048, 16], ids=["one-prefill-group", "many-prefill-groups"])
def test_gpt2_fast_passes_equal_the_generic_ones(monkeypatch, prefill_tokens):
    """The hand-written GPT-2 generation passes (gpt2_passes) read the same hidden states at every step
    as transformers' forward. Batch 1 is the evaluation layout (`Q bot <latent>xK eot`, questions of
    different lengths: every row's prefill output is its first thought). Batch 2 mixes layouts so that
    one row has no token before the first latent column (nothing to prefill) and padding inside the
    later passes. The two-column pass (last thought + eot) checks the causal mask within a pass."""
    model, tokenizer = build_model_and_tokenizer("gpt2-tiny", TEXTS, seed=0)
    model.eval()
    ids, vocab, L = token_ids(tokenizer), len(tokenizer), token_ids(tokenizer).latent
    evaluation = [words(n, vocab, 40 + n) + [ids.bot] + [L] * 3 + [ids.eot] for n in (2, 9, 5, 3)]
    late = words(1, vocab, 16) + [ids.bot, L, ids.eot]  # starts after the long row's first latent
    long = words(12, vocab, 17) + [ids.bot] + [L] * 5 + [ids.eot]
    mixed = [*prompts_of(ids, vocab), late, long]
    monkeypatch.setattr(gpt2_passes, "PREFILL_TOKENS", prefill_tokens)
    reserve = AppendLayer.reserve

    def reserve_poisoned(layer, *args):  # NaN, as uninitialised memory may hold: the prefill must write every column
        views = reserve(layer, *args)
        layer.key_store.fill_(float("nan")), layer.value_store.fill_(float("nan"))
        return views

    monkeypatch.setattr(AppendLayer, "reserve", reserve_poisoned)
    assert gpt2_passes.supports(model)
    for prompts in (evaluation, mixed):
        with monkeypatch.context() as patch:
            fast, fast_reads, fast_body_calls = head_reads(model, prompts, ids, 8)
            patch.setattr(gpt2_passes, "supports", lambda model: False)
            generic, generic_reads, generic_body_calls = head_reads(model, prompts, ids, 8)
        assert fast_body_calls == 0 and generic_body_calls > 0  # each path really ran
        assert fast == generic
        assert len(fast_reads) == len(generic_reads) >= 8
        for step, (a, b) in enumerate(zip(fast_reads, generic_reads)):
            assert a.shape == b.shape and torch.allclose(a, b, atol=TOL), f"step {step}: max abs diff {float((a - b).abs().max()):.2e}"


def test_only_plain_gpt2_takes_the_fast_path():
    gpt2, _ = build_model_and_tokenizer("gpt2-tiny", TEXTS, seed=0)
    llama, _ = build_model_and_tokenizer("llama-tiny", TEXTS, seed=0)
    assert gpt2_passes.supports(gpt2) and not gpt2_passes.supports(llama)
    gpt2.config.reorder_and_upcast_attn = True  # eager attention upcasts to fp32 there: left to transformers
    assert not gpt2_passes.supports(gpt2)


def test_generation_reads_thoughts_like_the_training_forward(setup):
    """The greedy first answer token equals the argmax of latent_forward's logits at the prompt end."""
    model, ids, vocab = setup
    prompt = prompts_of(ids, vocab)[0]
    first = generate(model, [prompt], ids=ids, max_new_tokens=1)[0]
    logits = latent_forward(model, torch.tensor([prompt]), torch.ones(1, len(prompt), dtype=torch.long), latent_id=ids.latent).logits
    expected = int(logits[0, -1].argmax())
    assert (first.token_ids or [ids.eos]) == [expected]


def record_hidden(model, ids, prompt, n: int) -> list[torch.Tensor]:
    """The hidden states a stop classifier sees for `prompt` (ending in bot) over n thoughts."""
    seen = []

    def never_stop(hidden):
        seen.append(hidden.clone())
        return torch.full(hidden.shape[:1], -1e9)

    generate(model, [prompt], ids=ids, max_new_tokens=1, stop_classifier=never_stop, max_thoughts=n)
    return [h[0] for h in seen]


def test_stop_classifier_stops_rows_independently(setup):
    model, ids, vocab = setup
    prompts = [words(5, vocab, 21) + [ids.bot], words(3, vocab, 22) + [ids.bot], words(4, vocab, 23)]
    stop_after = [1, 3]
    # A probe with known weights: negative on the hidden states before each row's stop, positive at it.
    states, targets = [], []
    for prompt, n in zip(prompts, stop_after):
        hidden = record_hidden(model, ids, prompt, n)
        states += hidden[: n + 1]
        targets += [-1.0] * n + [1.0]
    weight = torch.linalg.lstsq(torch.stack(states), torch.tensor(targets)[:, None]).solution  # (C, 1)
    probe = StopClassifier(weight.shape[0])
    with torch.no_grad():
        probe.linear.weight.copy_(weight.T)
        probe.linear.bias.zero_()

    batched = generate(model, prompts, ids=ids, max_new_tokens=5, stop_classifier=probe, max_thoughts=6)
    assert [g.num_thoughts for g in batched] == [*stop_after, 0]
    assert batched == [generate(model, [p], ids=ids, max_new_tokens=5, stop_classifier=probe, max_thoughts=6)[0] for p in prompts]
    assert batched == generate(model, prompts, ids=ids, max_new_tokens=5, stop_classifier=probe, max_thoughts=6, use_cache=False)
    for g, n in zip(batched, stop_after):  # prefill + thoughts + eot + tokens after the first
        assert g.forward_passes == 1 + n + 1 + (len(g.token_ids) + (len(g.token_ids) < 5)) - 1
    # The cap, and a probe that always says stop.
    capped = generate(model, prompts[:2], ids=ids, max_new_tokens=2, stop_classifier=lambda h: torch.full(h.shape[:1], -5.0), max_thoughts=4)
    assert [g.num_thoughts for g in capped] == [4, 4]
    eager = StopClassifier(weight.shape[0])
    with torch.no_grad():
        eager.linear.weight.zero_()
        eager.linear.bias.fill_(3.0)
    assert [g.num_thoughts for g in generate(model, prompts[:2], ids=ids, max_new_tokens=2, stop_classifier=eager)] == [0, 0]


def scripted(model, token: int):
    """A copy of the model whose LM head always predicts `token` (hidden states are untouched)."""
    model = copy.deepcopy(model)
    hidden, vocab = model.get_output_embeddings().weight.shape[1], model.get_output_embeddings().weight.shape[0]
    head = torch.nn.Linear(hidden, vocab, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[token] = 1.0
    model.set_output_embeddings(head)
    return model


def test_token_and_pass_counts_hand_checked(setup):
    model, ids, vocab = setup
    word = 9
    q = words(4, vocab, 31)
    coconut = q + [ids.bot] + [ids.latent] * 3 + [ids.eot]
    says_word, says_eos, says_pause = scripted(model, word), scripted(model, ids.eos), scripted(model, ids.pause)

    # 3 thoughts + 4 words (no EOS within the budget): passes = prefill 1 + 3 thoughts + 3 more tokens.
    assert generate(says_word, [coconut], ids=ids, max_new_tokens=4)[0] == Generation([word] * 4, 3, 7, 7)
    # EOS at once: the thoughts count, EOS does not; the EOS is read from the last prefill pass.
    assert generate(says_eos, [coconut], ids=ids, max_new_tokens=4)[0] == Generation([], 3, 3, 4)
    # Pause tokens neither in the prompt nor generated count.
    assert generate(says_pause, [q + [ids.pause] * 2], ids=ids, max_new_tokens=3)[0] == Generation([ids.pause] * 3, 0, 0, 3)
    # Pause-multipass: the 3 slots take passes but count as pauses.
    assert generate(says_word, [coconut], ids=ids, max_new_tokens=2, feed="pause")[0] == Generation([word] * 2, 3, 2, 5)
    # Thinking here: a probe that stops at once costs the eot pass; a fixed cap of 2 thoughts.
    stop_now = lambda h: torch.full(h.shape[:1], 1.0)  # noqa: E731
    assert generate(says_eos, [q + [ids.bot]], ids=ids, max_new_tokens=4, stop_classifier=stop_now)[0] == Generation([], 0, 0, 2)
    assert generate(says_word, [q + [ids.bot]], ids=ids, max_new_tokens=2, max_thoughts=2)[0] == Generation([word] * 2, 2, 4, 5)
    # No language budget: only the thoughts run (and the eot after thinking here is never fed).
    assert generate(says_word, [coconut], ids=ids, max_new_tokens=0)[0] == Generation([], 3, 3, 4)
    assert generate(says_word, [q + [ids.bot]], ids=ids, max_new_tokens=0, max_thoughts=2)[0] == Generation([], 2, 2, 3)
    # In a batch, finished rows stop counting.
    mixed = generate(says_word, [coconut, q], ids=ids, max_new_tokens=3)
    assert [(g.generated_tokens, g.forward_passes) for g in mixed] == [(6, 6), (3, 3)]


def test_generation_leaves_training_mode_alone(setup):
    model, ids, vocab = setup
    model.train()
    try:
        generate(model, prompts_of(ids, vocab)[:1], ids=ids, max_new_tokens=2)
        assert model.training
    finally:
        model.eval()


@pytest.mark.parametrize("left", [False, True], ids=["right-padded", "left-padded"])
def test_ready_4d_mask_equals_transformers_mask(setup, monkeypatch, left):
    """On CUDA the training forward hands the model its own 4D mask (no host synchronisation);
    forced on here, it computes what transformers' mask path does, latents or not."""
    from cocobench import engine

    model, ids, vocab = setup
    rows = training_rows(ids, vocab)
    for batch in (rows, [rows[2], words(4, vocab, 9)]):  # with latents, and without (one ordinary pass)
        input_ids, mask, labels = batch_of(batch, ids.pad, left=left)
        expected = latent_forward(model, input_ids, mask, labels, latent_id=ids.latent)
        with monkeypatch.context() as patch:
            patch.setattr(engine, "uses_own_mask", lambda model: True)
            got = latent_forward(model, input_ids, mask, labels, latent_id=ids.latent)
        real = mask.bool()
        assert abs(got.loss.item() - expected.loss.item()) <= TOL
        assert (got.hidden[real] - expected.hidden[real]).abs().max() <= TOL
