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
    assert [second.segments(e) for e in examples] == [first.segments(e) for e in examples] == [first._tokenize(e) for e in examples]


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


def no_tokenizing(*args, **kwargs):
    raise AssertionError("tokenized although the cached file is there")


def test_segments_are_cut_from_the_file_only_when_asked_for(tmp_path, monkeypatch):
    examples = language_examples()
    tokenized.prefill_segments(word_method(examples), examples, directory=tmp_path, min_examples=0)
    monkeypatch.setattr(tokenized, "_tokenize_batch", no_tokenizing)
    method = word_method(examples)
    monkeypatch.setattr(method, "_tokenize", no_tokenizing)  # every segment comes from the file
    tokenized.prefill_segments(method, examples, directory=tmp_path, min_examples=0)
    store = method._segments
    key = (examples[3]["question"], tuple(examples[3]["steps"]), examples[3]["answer"])
    assert dict.__len__(store) == 0 and key in store and ("no", (), "such") not in store  # held, nothing built yet
    assert method.segments(examples[3]) == word_method(examples)._tokenize(examples[3]) and dict.__len__(store) == 1
    with pytest.raises(KeyError):
        store[("no", (), "such")]


def test_two_tables_in_one_store(tmp_path):
    """A method filled twice (other examples later): each example from its own table, the first table's kept."""
    examples = language_examples()
    method = word_method(examples)
    assert tokenized.prefill_segments(method, examples[:25], directory=tmp_path, min_examples=0) == 25
    assert tokenized.prefill_segments(method, examples[20:], directory=tmp_path, min_examples=0) == 15  # 20-24 held already
    assert tokenized.prefill_segments(method, examples, directory=tmp_path, min_examples=0, source="s") == 40  # a source's file holds all
    assert len(method._segments._tables) == 3 and [method._segments._rows[(e["question"], tuple(e["steps"]), e["answer"])] for e in examples[18:27]] == [18, 19, 20, 21, 22, 23, 24, 25, 26]
    assert [method.segments(e) for e in reversed(examples)] == [method._tokenize(e) for e in reversed(examples)]


def test_a_table_in_many_chunks_and_examples_of_no_steps(tmp_path, monkeypatch):
    """The file is written in batches (chunks); rows are found across them, empty chains included."""
    monkeypatch.setattr(tokenized, "BATCH_SIZE", 7)
    examples = language_examples(60)
    method = word_method(examples)
    tokenized.prefill_segments(method, examples, directory=tmp_path, min_examples=0)
    reread = word_method(examples)
    tokenized.prefill_segments(reread, examples, directory=tmp_path, min_examples=0)
    assert len(reread._segments._tables[0].starts) > 1  # more than one chunk
    assert [reread.segments(e) for e in reversed(examples)] == [method._tokenize(e) for e in reversed(examples)]
    assert any(not e["steps"] for e in examples)


def test_a_file_named_by_the_data_source_is_read_for_it_and_made_anew_for_another(tmp_path, monkeypatch):
    examples = language_examples()
    source = tokenized.data_source({"train_fingerprint": "sha256:aa"}, limit_train=None, limit_eval=None)
    first = word_method(examples)
    assert tokenized.prefill_segments(first, examples, directory=tmp_path, min_examples=0, source=source) == len(examples)
    [file] = tmp_path.glob("segments-*.arrow")
    assert tokenized.prefill_segments(word_method(examples), examples, directory=tmp_path, min_examples=0) == len(examples)
    assert len(list(tmp_path.glob("segments-*.arrow"))) == 2  # named by the examples, not the source: another file

    with monkeypatch.context() as patched:  # the same source: read, whatever the examples (they are the source's)
        patched.setattr(tokenized, "_tokenize_batch", no_tokenizing)
        again = word_method(examples)
        tokenized.prefill_segments(again, examples, directory=tmp_path, min_examples=0, source=source)
        assert [again.segments(e) for e in examples] == [first._tokenize(e) for e in examples]

    changed = [{**e, "answer": e["answer"] + "0"} for e in examples]  # the file changed: its fingerprint did
    other = tokenized.data_source({"train_fingerprint": "sha256:bb"}, limit_train=None, limit_eval=None)
    method = word_method(examples)
    tokenized.prefill_segments(method, changed, directory=tmp_path, min_examples=0, source=other)
    assert len(list(tmp_path.glob("segments-*.arrow"))) == 3
    assert [method.segments(e) for e in changed] == [method._tokenize(e) for e in changed]
    assert tokenized.data_source({"train_fingerprint": "sha256:aa"}, limit_train=10, limit_eval=None) != source


def test_a_damaged_or_partial_file_is_made_again(tmp_path):
    examples = language_examples()
    source = tokenized.data_source({"train_fingerprint": "sha256:aa"})
    tokenized.prefill_segments(word_method(examples), examples[:-5], directory=tmp_path, min_examples=0, source=source)
    method = word_method(examples)  # the same name, but the file holds fewer rows than these examples (a file left by a bug, or copied)
    tokenized.prefill_segments(method, examples, directory=tmp_path, min_examples=0, source=source)
    assert [method.segments(e) for e in examples] == [method._tokenize(e) for e in examples]
    [file] = tmp_path.glob("segments-*.arrow")
    file.write_bytes(b"not arrow")
    method = word_method(examples)
    tokenized.prefill_segments(method, examples, directory=tmp_path, min_examples=0, source=source)
    assert [method.segments(e) for e in examples] == [method._tokenize(e) for e in examples]


def test_the_default_cache_is_where_datasets_keeps_its_cache(monkeypatch, tmp_path):
    import subprocess
    import sys

    monkeypatch.delenv(tokenized.CACHE_ENV, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    code = ("from cocobench import tokenized; a = tokenized.cache_dir(); import datasets, sys; "
            "print(a == tokenized.cache_dir() == datasets.config.HF_DATASETS_CACHE / 'cocobench-tokenized', 'datasets' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split() == ["True", "True"]
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "elsewhere"))
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()[0] == "True"


class Untouchable(list):
    """Texts that fail when read: what a vocabulary read back by its source must not do."""

    def __iter__(self):
        raise AssertionError("read the texts although the vocabulary of their source is cached")

    __getitem__ = __iter__


def test_a_vocabulary_named_by_the_data_source_reads_no_text(tmp_path):
    from cocobench.examples import sequence_text

    texts = [sequence_text(e) for e in language_examples()]
    source = tokenized.data_source({"train_fingerprint": "sha256:aa"})
    first = tokenized.word_tokenizer(texts, directory=tmp_path, min_examples=0, source=source)
    assert first.get_vocab() == build_word_tokenizer(texts).get_vocab()
    again = tokenized.word_tokenizer(Untouchable(texts), directory=tmp_path, min_examples=0, source=source)
    assert again.backend_tokenizer.to_str() == first.backend_tokenizer.to_str()
    other = tokenized.word_tokenizer(texts + ["zumpus"], directory=tmp_path, min_examples=0, source=tokenized.data_source({"train_fingerprint": "sha256:bb"}))
    assert "zumpus" in other.get_vocab() and len(list(tmp_path.glob("vocabulary-*.json"))) == 2


def test_the_vocabulary_texts_made_one_at_a_time_are_the_list():
    from cocobench.runner import VocabularyTexts, vocabulary_texts

    examples = language_examples()
    splits = {"train": examples[:30], "valid": examples[30:35], "test": examples[35:]}
    lazy, texts = VocabularyTexts(splits), vocabulary_texts(splits)
    assert len(lazy) == len(texts) == 40 and list(lazy) == texts and [lazy[i] for i in (0, 29, 30, -1)] == [texts[i] for i in (0, 29, 30, -1)]
    assert lazy[28:32] == texts[28:32]
    with pytest.raises(IndexError):
        lazy[40]


def test_a_start_on_cached_data_imports_neither_datasets_nor_pandas(tmp_path):
    """Reading the cached files is pyarrow's memory map alone: datasets (and the pandas it imports) cost seconds."""
    import subprocess
    import sys

    from cocobench.examples import sequence_text

    examples = language_examples()
    source = tokenized.data_source({"train_fingerprint": "sha256:aa"})
    tokenizer = tokenized.word_tokenizer([sequence_text(e) for e in examples], directory=tmp_path, min_examples=0, source=source)
    tokenized.prefill_segments(get_method("cot", make_cfg(), tokenizer), examples, directory=tmp_path, min_examples=0, source=source)
    code = f"""
import sys
from cocobench import tokenized
from cocobench.methods import get_method
from tests.test_tokenized import Untouchable, language_examples, make_cfg
source, directory = {source!r}, __import__("pathlib").Path({str(tmp_path)!r})
tokenizer = tokenized.word_tokenizer(Untouchable([""] * 40), directory=directory, min_examples=0, source=source)
method = get_method("cot", make_cfg(), tokenizer)
method._tokenize = None  # every segment from the file
examples = language_examples()
assert tokenized.prefill_segments(method, examples, directory=directory, min_examples=0, source=source) == len(examples)
assert all(method.segments(e) for e in examples)
print(sorted(name for name in ("datasets", "pandas") if name in sys.modules))
"""
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
