"""Tokenization through Dataset.map: the same ids as Method._tokenize, bit for bit, and a second run on
the same examples and tokenizer reads the arrow file instead of tokenizing again."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from cocobench import tokenized
from cocobench.methods import get_method
from cocobench.methods.base import AUGMENTED
from cocobench.tasks import prosqa_symbolic
from cocobench.tokenizer import build_symbolic_tokenizer, build_word_tokenizer


def make_cfg():
    return SimpleNamespace(c=1, max_latent_stage=6, epochs_per_stage=5, pad_latent_to_max=True, uniform_prob=0.0, reset_optimizer="stage",
                           latent_stop="fixed", k=None, max_thoughts=None, pause_tokens=None, remove_per_epoch=8, removal_smoothing=4.0,
                           remove_all_after=None, epochs=50, seed=0)  # fmt: skip


def language_examples(n: int = 40) -> list[dict]:
    rng = random.Random(0)
    examples = []
    for i in range(n):
        a, b = rng.randint(1, 999), rng.randint(1, 99)
        steps = [f"<<{a}*{b}={a * b}>>", f"<<{a * b}+{i}={a * b + i}>>"][: i % 3]  # 0, 1 or 2 steps: empty chains too
        examples.append({"question": f"Tom has {a} boxes of {b} pens.  How many ,  with {i} more?", "steps": steps, "answer": str(a * b + i)})
    return examples


def word_method(examples):
    from cocobench.examples import sequence_text

    return get_method("coconut", make_cfg(), build_word_tokenizer(sequence_text(e) for e in examples))


@pytest.mark.slow
def test_batched_map_gives_method_tokenize_ids_bit_for_bit(tmp_path):
    examples = language_examples()
    method = word_method(examples)
    assert tokenized.prefill_segments(method, examples, directory=tmp_path, min_examples=0) == len(examples)
    for example in examples:
        assert method.segments(example) == method._tokenize(example)
        assert isinstance(method.segments(example).steps, tuple) and all(isinstance(s, tuple) for s in method.segments(example).steps)


def test_symbolic_tokenizer_adds_its_eos_first_as_on_the_fly(tmp_path):
    examples = prosqa_symbolic.generate_splits(seed=0, sizes={"train": 12, "valid": 1, "test": 1})["train"]
    method = get_method("coconut", make_cfg(), build_symbolic_tokenizer())
    assert tokenized.prefill_segments(method, examples, directory=tmp_path, min_examples=0) == len(examples)
    for example in examples:
        assert method._segments[(example["question"], tuple(example["steps"]), example["answer"])] == method._tokenize(example)


def test_a_second_run_reads_the_cached_file_without_tokenizing(tmp_path, monkeypatch):
    examples = language_examples()
    first = word_method(examples)
    tokenized.prefill_segments(first, examples, directory=tmp_path, min_examples=0)
    assert len(list(tmp_path.glob("segments-*.arrow"))) == 1

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("tokenized again although the cached file is there")

    monkeypatch.setattr(tokenized, "_tokenize_batch", no_tokenizing)
    second = word_method(examples)  # a new process's method: an empty segment cache, the same tokenizer
    assert tokenized.prefill_segments(second, examples, directory=tmp_path, min_examples=0) == len(examples)
    assert second._segments == first._segments


def test_other_examples_or_another_tokenizer_get_their_own_file(tmp_path):
    examples = language_examples()
    tokenized.prefill_segments(word_method(examples), examples, directory=tmp_path, min_examples=0)
    tokenized.prefill_segments(word_method(examples), examples[:-1], directory=tmp_path, min_examples=0)
    other = get_method("coconut", make_cfg(), build_word_tokenizer(["Tom"]))  # another vocabulary: other ids for the same text
    tokenized.prefill_segments(other, examples, directory=tmp_path, min_examples=0)
    assert len(list(tmp_path.glob("segments-*.arrow"))) == 3
    assert all(other.segments(e) == other._tokenize(e) for e in examples)


def test_augmented_views_and_small_data_are_tokenized_on_the_fly(tmp_path):
    examples = language_examples()
    method = word_method(examples)
    view = {**examples[0], "question": examples[0]["question"] + " Tom", AUGMENTED: True}
    assert tokenized.prefill_segments(method, [view], directory=tmp_path, min_examples=0) == 0
    assert tokenized.prefill_segments(method, examples, directory=tmp_path) == 0  # fewer than MIN_CACHED_EXAMPLES
    assert method._segments == {} and not list(tmp_path.iterdir())


@pytest.mark.parametrize("rows, cpus, expected", [(1_000, 16, None), (385_620, 2, None), (385_620, 16, 3), (2_000_000, 8, 7)])
def test_worker_processes_only_where_they_pay(monkeypatch, rows, cpus, expected):
    monkeypatch.setattr(tokenized.os, "cpu_count", lambda: cpus)
    assert tokenized._processes(rows) == expected


def test_the_word_vocabulary_is_counted_once_per_data(tmp_path, monkeypatch):
    from cocobench.examples import sequence_text
    from cocobench.tokenizer import build_word_tokenizer

    texts = [sequence_text(e) for e in language_examples()]
    first = tokenized.word_tokenizer(texts, directory=tmp_path, min_examples=0)
    assert first.get_vocab() == build_word_tokenizer(texts).get_vocab() and len(list(tmp_path.glob("vocabulary-*.json"))) == 1

    def no_counting(*args, **kwargs):
        raise AssertionError("counted the vocabulary again although its file is there")

    monkeypatch.setattr("cocobench.tokenizer.word_tokenizer_core", no_counting)
    second = tokenized.word_tokenizer(texts, directory=tmp_path, min_examples=0)
    assert second.backend_tokenizer.to_str() == first.backend_tokenizer.to_str()
    assert [second.encode(t) for t in texts] == [first.encode(t) for t in texts]
    assert second.pad_token_id == first.pad_token_id and second.convert_tokens_to_ids("<|latent|>") == first.convert_tokens_to_ids("<|latent|>")
    monkeypatch.undo()
    other = tokenized.word_tokenizer(texts[:-1] + [texts[-1] + " zumpus"], directory=tmp_path, min_examples=0)  # other texts: counted anew
    assert " zumpus" in other.get_vocab() and len(list(tmp_path.glob("vocabulary-*.json"))) == 2
