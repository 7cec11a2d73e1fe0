"""Every method's sequences, loss masks, schedules and prompts against docs/methods.md,
on one hand-made 3-step example (decoded and compared as exact strings)."""

from __future__ import annotations

import math
import random
from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from cocobench.errors import CocobenchError
from cocobench.methods import get_method, method_names
from cocobench.methods.base import IGNORE
from cocobench.tokenizer import BOT, EOS, EOT, LATENT, PAUSE, build_word_tokenizer, token_ids

EXAMPLE = {
    "question": "Tom is a wumpus. Every wumpus is a yumpus. Every yumpus is a zumpus. Is Tom a zumpus or a lempus?",
    "steps": ["Tom is a wumpus.", "Every wumpus is a yumpus.", "Every yumpus is a zumpus."],
    "answer": "Tom is a zumpus.",
}
Q = EXAMPLE["question"] + "\n"
S1, S2, S3 = (step + "\n" for step in EXAMPLE["steps"])
A = "### Tom is a zumpus." + EOS


def make_cfg(**overrides):
    """The RunConfig fields methods read, at their defaults."""
    fields = dict(
        c=1, max_latent_stage=6, epochs_per_stage=5, pad_latent_to_max=True, uniform_prob=0.0, reset_optimizer="stage",
        latent_stop="fixed", k=None, max_thoughts=None, pause_tokens=None, remove_per_epoch=8, removal_smoothing=4.0,
        remove_all_after=None, epochs=50, seed=0,
    )
    fields.update(overrides)
    return SimpleNamespace(**fields)


@pytest.fixture(scope="module")
def tok():
    return build_word_tokenizer([Q + S1 + S2 + S3 + A])


def method(tok, name, **overrides):
    return get_method(name, make_cfg(**overrides), tok)


def train(m, epoch=0, batch_index=0, batches_per_epoch=10, rng=None):
    return m.train_sequence(EXAMPLE, epoch=epoch, batch_index=batch_index, batches_per_epoch=batches_per_epoch, rng=rng or random.Random(0))


def text(tok, ids):
    return tok.decode(list(ids), skip_special_tokens=False)


def check(tok, seq, full: str, supervised: str):
    """The sequence decodes to `full`; labels equal the ids exactly on a suffix that decodes to `supervised`."""
    assert len(seq.labels) == len(seq.input_ids)
    assert text(tok, seq.input_ids) == full
    first = next(i for i, label in enumerate(seq.labels) if label != IGNORE)
    assert all(label == IGNORE for label in seq.labels[:first])
    assert seq.labels[first:] == seq.input_ids[first:]
    assert text(tok, seq.input_ids[first:]) == supervised


# --- registry ---

def test_registry_names_and_unknown_method(tok):
    assert method_names() == ["cot", "no-cot", "icot", "pause", "coconut", "coconut-no-curriculum", "coconut-no-thought", "pause-as-thought", "pause-multipass",
                              "codi", "codi-no-distill", "codi-no-projection", "codi-keep-last-step"]
    for name in method_names():
        m = method(tok, name)
        assert m.name == name and m.description
    with pytest.raises(CocobenchError, match=r"unknown method 'cocnut'; did you mean 'coconut'\? available: "):
        get_method("cocnut", make_cfg(), tok)


def test_thought_feed(tok):
    feeds = {name: method(tok, name).thought_feed for name in method_names()}
    assert feeds == {"cot": None, "no-cot": None, "icot": None, "pause": None, "coconut": "hidden", "coconut-no-curriculum": "hidden",
                     "coconut-no-thought": None, "pause-as-thought": None, "pause-multipass": "pause",
                     "codi": "hidden", "codi-no-distill": "hidden", "codi-no-projection": "hidden", "codi-keep-last-step": "hidden"}


def test_segments_concatenate_to_the_whole_text(tok):
    # The official code's check: separately tokenized segments == the whole text tokenized at once.
    seq = train(method(tok, "cot"))
    whole = EXAMPLE["question"] + "\n" + "\n".join(EXAMPLE["steps"]) + "\n### " + EXAMPLE["answer"]
    assert seq.input_ids == tok.encode(whole, add_special_tokens=False) + [tok.eos_token_id]


# --- language baselines ---

def test_cot_and_no_cot(tok):
    check(tok, train(method(tok, "cot")), Q + S1 + S2 + S3 + A, S1 + S2 + S3 + A)
    check(tok, train(method(tok, "no-cot")), Q + A, A)


def test_pause(tok):
    check(tok, train(method(tok, "pause")), Q + PAUSE * 6 + A, A)
    check(tok, train(method(tok, "pause", max_latent_stage=3, c=2)), Q + PAUSE * 6 + A, A)
    check(tok, train(method(tok, "pause", pause_tokens=2)), Q + PAUSE * 2 + A, A)


# --- Coconut family ---

@pytest.mark.parametrize(
    "epoch, full, supervised",
    [
        (0, Q + BOT + EOT + S1 + S2 + S3 + A, S1 + S2 + S3 + A),  # stage 0 keeps the markers
        (1, Q + BOT + EOT + S1 + S2 + S3 + A, S1 + S2 + S3 + A),
        (2, Q + BOT + LATENT + EOT + S2 + S3 + A, S2 + S3 + A),
        (4, Q + BOT + LATENT * 2 + EOT + S3 + A, S3 + A),
        (6, Q + BOT + LATENT * 3 + EOT + A, A),
        (8, Q + BOT + LATENT * 3 + EOT + A, A),  # past max_latent_stage
        (99, Q + BOT + LATENT * 3 + EOT + A, A),
    ],
)
def test_coconut_stage_schedule(tok, epoch, full, supervised):
    m = method(tok, "coconut", max_latent_stage=3, epochs_per_stage=2)
    assert m.stage(epoch) == epoch // 2
    check(tok, train(m, epoch=epoch), full, supervised)


def test_coconut_fewer_steps_than_stage_and_pad_latent_to_max(tok):
    padded = method(tok, "coconut", epochs_per_stage=1)  # max_latent_stage 6, the example has 3 steps
    unpadded = method(tok, "coconut", epochs_per_stage=1, pad_latent_to_max=False)
    check(tok, train(padded, epoch=5), Q + BOT + LATENT * 5 + EOT + A, A)  # all steps go, k*c thoughts
    check(tok, train(unpadded, epoch=5), Q + BOT + LATENT * 3 + EOT + A, A)  # min(k, #steps)*c
    check(tok, train(padded, epoch=7), Q + BOT + LATENT * 6 + EOT + A, A)  # past the last stage
    check(tok, train(unpadded, epoch=7), Q + BOT + LATENT * 3 + EOT + A, A)
    check(tok, train(unpadded, epoch=2), Q + BOT + LATENT * 2 + EOT + S3 + A, S3 + A)  # same as padded when steps suffice


def test_coconut_more_steps_than_max_latent_stage(tok):
    """The paper's GSM setting (max_latent_stage 3, longer chains): at the last stage the first
    max_latent_stage steps become thoughts and the rest stay in language; only past it do all steps go."""
    m = method(tok, "coconut", max_latent_stage=2, epochs_per_stage=1)  # the example has 3 steps
    check(tok, train(m, epoch=1), Q + BOT + LATENT + EOT + S2 + S3 + A, S2 + S3 + A)
    check(tok, train(m, epoch=2), Q + BOT + LATENT * 2 + EOT + S3 + A, S3 + A)  # stage 2 = max: S3 kept
    check(tok, train(m, epoch=3), Q + BOT + LATENT * 2 + EOT + A, A)  # past it: every step goes
    unpadded = method(tok, "coconut", max_latent_stage=2, epochs_per_stage=1, pad_latent_to_max=False)
    check(tok, train(unpadded, epoch=2), Q + BOT + LATENT * 2 + EOT + S3 + A, S3 + A)
    check(tok, train(unpadded, epoch=3), Q + BOT + LATENT * 2 + EOT + A, A)


def test_coconut_c_thoughts_per_step(tok):
    m = method(tok, "coconut", c=2, max_latent_stage=3, epochs_per_stage=1)
    check(tok, train(m, epoch=1), Q + BOT + LATENT * 2 + EOT + S2 + S3 + A, S2 + S3 + A)
    check(tok, train(m, epoch=4), Q + BOT + LATENT * 6 + EOT + A, A)


def test_coconut_uniform_prob_mixes_stages_with_the_given_rng(tok):
    m = method(tok, "coconut", uniform_prob=0.3, epochs_per_stage=1, max_latent_stage=3)
    rng, mirror = random.Random(7), random.Random(7)
    seen = Counter()
    for _ in range(400):
        seq = train(m, epoch=1, rng=rng)
        expected = mirror.randrange(4) if mirror.random() < 0.3 else 1  # the draw the method must make
        latents = seq.input_ids.count(token_ids(tok).latent)
        assert latents == expected
        seen[latents] += 1
    assert set(seen) == {0, 1, 2, 3}
    assert 0.15 < 1 - seen[1] / 400 < 0.30  # 30% drawn, three quarters of those off the scheduled stage: 22.5%
    # uniform_prob 0 draws nothing from the rng
    rng = random.Random(3)
    train(method(tok, "coconut"), epoch=7, rng=rng)
    assert rng.random() == random.Random(3).random()


def test_coconut_no_curriculum_trains_at_the_final_stage_from_epoch_0(tok):
    m = method(tok, "coconut-no-curriculum")
    check(tok, train(m, epoch=0), Q + BOT + LATENT * 6 + EOT + A, A)
    check(tok, train(method(tok, "coconut-no-curriculum", c=2, max_latent_stage=2)), Q + BOT + LATENT * 4 + EOT + A, A)
    assert m.stage(0) == m.stage(40) == 7


def test_coconut_no_thought(tok):
    m = method(tok, "coconut-no-thought", max_latent_stage=3, epochs_per_stage=1)
    check(tok, train(m, epoch=0), Q + S1 + S2 + S3 + A, S1 + S2 + S3 + A)  # no markers at all
    check(tok, train(m, epoch=1), Q + S2 + S3 + A, S2 + S3 + A)
    check(tok, train(m, epoch=5), Q + A, A)


def test_pause_as_thought_and_pause_multipass(tok):
    pat = method(tok, "pause-as-thought", max_latent_stage=3, epochs_per_stage=1)
    check(tok, train(pat, epoch=2), Q + BOT + PAUSE * 2 + EOT + S3 + A, S3 + A)
    check(tok, train(pat, epoch=0), Q + BOT + EOT + S1 + S2 + S3 + A, S1 + S2 + S3 + A)
    multipass = method(tok, "pause-multipass", max_latent_stage=3, epochs_per_stage=1)
    coconut = method(tok, "coconut", max_latent_stage=3, epochs_per_stage=1)
    for epoch in range(6):
        assert train(multipass, epoch=epoch) == train(coconut, epoch=epoch)


# --- iCoT ---

def icot_expected(tok, removed: int):
    chain = tok.encode(S1 + S2 + S3, add_special_tokens=False)
    rest = text(tok, chain[removed:])
    return Q + rest + A, rest + A


def test_icot_removal_schedule_by_batch(tok):
    m = method(tok, "icot", removal_smoothing=math.inf)  # no smoothing: exactly the scheduled removal
    # 16 batches per epoch, 8 removals per epoch: one more token every 2 batches, counted across epochs
    assert [m.scheduled_removal(0, b, 16) for b in range(6)] == [0, 0, 1, 1, 2, 2]
    assert m.scheduled_removal(1, 0, 16) == 8 and m.scheduled_removal(2, 5, 16) == 18
    assert m.scheduled_removal(0, 5, 3) == 5  # fewer batches than removals: one per batch
    for epoch, batch, removed in [(0, 0, 0), (0, 3, 1), (1, 0, 8), (1, 7, 11)]:
        check(tok, train(m, epoch=epoch, batch_index=batch, batches_per_epoch=16), *icot_expected(tok, removed))
    # the answer is never removed, however far the schedule goes
    check(tok, train(m, epoch=40, batches_per_epoch=16), Q + A, A)
    assert m.stage(2, 16) == 16 and m.stage(3) == 24  # tokens scheduled at the epoch's start


def test_icot_remove_all_after(tok):
    m = method(tok, "icot", removal_smoothing=math.inf, remove_all_after=5)
    check(tok, train(m, epoch=0, batch_index=8, batches_per_epoch=16), *icot_expected(tok, 4))
    assert m.scheduled_removal(0, 10, 16) == math.inf  # r reaches 5: the whole chain goes
    check(tok, train(m, epoch=0, batch_index=10, batches_per_epoch=16), Q + A, A)


def test_icot_removal_smoothing_distribution(tok):
    m = method(tok, "icot")  # lambda = 4
    rng = random.Random(0)
    draws = Counter(m.smoothing_offset(rng) for _ in range(20000))
    z = sum(math.exp(-4 * o) for o in range(100))
    for o in (0, 1):
        assert abs(draws[o] / 20000 - math.exp(-4 * o) / z) < 0.005
    assert max(draws) <= 3
    # and it reaches the sequences: at r = 0 about 2% of examples already lose a token
    lengths = Counter(len(train(m, rng=rng).input_ids) for _ in range(2000))
    full = len(train(method(tok, "cot")).input_ids)
    assert 0.96 < lengths[full] / 2000 < 0.995 and lengths[full - 1] > 0
    from cocobench.config import resolve_config

    with pytest.raises(CocobenchError, match="--removal-smoothing \\(lambda\\) must be > 0"):  # checked with the settings, before any work
        resolve_config(None, {"method": "icot", "removal_smoothing": 0.0})


# --- optimizer resets ---

def resets(m, epochs=10, batches=3):
    return [(e, b) for e in range(epochs) for b in range(batches) if m.reset_optimizer(epoch=e, batch_index=b, batches_per_epoch=batches)]


def test_reset_optimizer_modes(tok):
    stage = dict(max_latent_stage=2, epochs_per_stage=2)
    # stages 0,0,1,1,2,2,3(final),3,4(same data as 3),4: reset when the training data changes
    assert resets(method(tok, "coconut", **stage)) == [(2, 0), (4, 0), (6, 0)]
    assert resets(method(tok, "coconut", reset_optimizer="epoch", **stage)) == [(e, 0) for e in range(1, 10)]
    assert resets(method(tok, "coconut", reset_optimizer="never", **stage)) == []
    assert resets(method(tok, "coconut-no-curriculum", **stage)) == []
    assert resets(method(tok, "pause-as-thought", **stage)) == [(2, 0), (4, 0), (6, 0)]
    assert resets(method(tok, "cot")) == [] and resets(method(tok, "pause")) == []
    assert resets(method(tok, "cot", reset_optimizer="epoch"), epochs=3) == [(1, 0), (2, 0)]


def test_icot_resets_the_optimizer_at_every_removal_increase(tok):
    m = method(tok, "icot", remove_per_epoch=2)  # 4 batches per epoch: one removal every 2 batches
    assert resets(m, epochs=2, batches=4) == [(0, 2), (1, 0), (1, 2)]
    capped = method(tok, "icot", remove_per_epoch=2, remove_all_after=2)  # r reaches 2 at (1, 0): then no more changes
    assert resets(capped, epochs=3, batches=4) == [(0, 2), (1, 0)]
    assert resets(method(tok, "icot", remove_per_epoch=2, reset_optimizer="never"), epochs=2, batches=4) == []


# --- inference prompts ---

def prompt(tok, name, k=None, **overrides):
    return text(tok, method(tok, name, **overrides).inference_prompt(EXAMPLE, k=k))


def test_inference_prompts(tok):
    for name in ("cot", "no-cot", "icot", "coconut-no-thought"):
        assert prompt(tok, name) == Q
    assert prompt(tok, "pause") == Q + PAUSE * 6
    assert prompt(tok, "pause", pause_tokens=3) == Q + PAUSE * 3
    assert prompt(tok, "pause", k=2) == Q + PAUSE * 2
    assert prompt(tok, "coconut") == Q + BOT + LATENT * 6 + EOT
    assert prompt(tok, "coconut", c=2, max_latent_stage=3) == Q + BOT + LATENT * 6 + EOT
    assert prompt(tok, "coconut", k=2) == Q + BOT + LATENT * 2 + EOT
    assert prompt(tok, "coconut", k=0) == Q + BOT + EOT
    assert prompt(tok, "coconut", pad_latent_to_max=False) == Q + BOT + LATENT * 6 + EOT  # no gold-chain length at inference
    assert prompt(tok, "coconut-no-curriculum", k=3) == Q + BOT + LATENT * 3 + EOT
    assert prompt(tok, "pause-multipass") == Q + BOT + LATENT * 6 + EOT
    assert prompt(tok, "pause-as-thought") == Q + BOT + PAUSE * 6 + EOT
    assert prompt(tok, "pause-as-thought", k=1) == Q + BOT + PAUSE + EOT
    # the stop classifier decides when to end: the prompt stops at bot unless k forces a number
    assert prompt(tok, "coconut", latent_stop="classifier") == Q + BOT
    assert prompt(tok, "pause-multipass", latent_stop="classifier") == Q + BOT
    assert prompt(tok, "coconut", k=2, latent_stop="classifier") == Q + BOT + LATENT * 2 + EOT


def test_invalid_k_and_latent_stop(tok):
    with pytest.raises(CocobenchError, match="method 'cot' has none"):
        prompt(tok, "cot", k=2)
    assert prompt(tok, "coconut-no-thought", k=0) == Q
    with pytest.raises(CocobenchError, match="--k must be 0 or more"):
        prompt(tok, "coconut", k=-1)
    with pytest.raises(CocobenchError, match="method 'icot' has none"):
        method(tok, "icot", k=3)  # rejected when the method is set up, before training
    for name in ("cot", "pause", "pause-as-thought", "coconut-no-thought"):
        with pytest.raises(CocobenchError, match="--latent-stop classifier needs continuous thoughts"):
            method(tok, name, latent_stop="classifier")


def test_validation_k_follows_the_stage(tok):
    m = method(tok, "coconut", max_latent_stage=3, epochs_per_stage=2, c=2)
    assert [m.validation_k(e) for e in range(0, 10, 2)] == [0, 2, 4, 6, 6]
    assert method(tok, "coconut", latent_stop="classifier").validation_k(4) is None
    assert method(tok, "cot").validation_k(3) is None and method(tok, "coconut-no-thought").validation_k(9) is None


# --- stop classifier targets ---

def test_stop_targets(tok):
    ids = token_ids(tok)
    m = method(tok, "coconut", max_latent_stage=3, epochs_per_stage=1)
    seq = train(m, epoch=2)
    targets = m.stop_targets(seq.input_ids)
    bot = seq.input_ids.index(ids.bot)
    assert targets[bot : bot + 3] == [0, 0, 1]  # bot, latent, last latent (followed by eot)
    assert seq.input_ids[bot + 3] == ids.eot
    assert all(t == IGNORE for i, t in enumerate(targets) if not bot <= i < bot + 3)
    stage0 = train(m, epoch=0)
    targets0 = m.stop_targets(torch.tensor(stage0.input_ids))  # tensors work too
    assert targets0[stage0.input_ids.index(ids.bot)] == 1 and targets0.count(IGNORE) == len(targets0) - 1
    open_prompt = get_method("coconut", make_cfg(latent_stop="classifier"), tok).inference_prompt(EXAMPLE)
    assert set(m.stop_targets(open_prompt)) == {IGNORE}
    assert set(m.stop_targets(train(method(tok, "cot")).input_ids)) == {IGNORE}


def test_word_tokenizer_adds_no_special_tokens(tok):
    assert tok.encode(Q, add_special_tokens=True) == tok.encode(Q, add_special_tokens=False)


@pytest.mark.parametrize("name", ["cot", "coconut", "pause"])
def test_the_question_gets_the_tokenizers_bos_and_nothing_else_does(name):
    """As in the authors' code, the question is encoded with add_special_tokens=True: a tokenizer that adds
    a BOS (Llama's) starts every training sequence and inference prompt with it; steps and answer do not."""
    from tokenizers import processors

    bos_tok = build_word_tokenizer([Q + S1 + S2 + S3 + A])
    bos = bos_tok.convert_tokens_to_ids(EOS)
    bos_tok.backend_tokenizer.post_processor = processors.TemplateProcessing(single=f"{EOS} $A", special_tokens=[(EOS, bos)])
    assert bos_tok.encode("Tom", add_special_tokens=True)[0] == bos
    m = method(bos_tok, name)
    seg = m.segments(EXAMPLE)
    assert seg.question[0] == bos and seg.question[1:] == tuple(bos_tok.encode(Q, add_special_tokens=False))
    assert all(bos not in step for step in seg.steps) and seg.answer.count(bos) == 1 and seg.answer[-1] == bos  # only its EOS
    assert train(m).input_ids[0] == bos and m.inference_prompt(EXAMPLE)[0] == bos
