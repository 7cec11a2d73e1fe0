"""Examples tokenized once per data and tokenizer: `datasets.Dataset.map` (batched, the fast tokenizer's
batch encoding) writes each example's segment ids to an arrow file named by a fingerprint of the
examples, the tokenizer and the sequence format, and a later run on the same data and tokenizer loads
that file (memory-mapped) instead of tokenizing again.

The ids are those `Method._tokenize` gives, bit for bit (the same tokenizer calls, batched); this module
only pre-fills the method's segment cache. Augmented views (`_augmented`, drawn anew each time) are
still tokenized on the fly, and so is anything the method meets later.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from cocobench.examples import Example
from cocobench.methods.base import AUGMENTED, Segments

TOKENIZATION_VERSION = "1"  # bump when Method._tokenize changes what it computes: old cache files are then not read
MIN_CACHED_EXAMPLES = 20_000  # below this, tokenizing takes a second or two: the cache would cost more than it saves
ROWS_PER_PROCESS = 100_000  # num_proc only for large data: a worker costs about a second to start
BATCH_SIZE = 1_000  # examples per batched tokenizer call (datasets' default)
CACHE_ENV = "COCOBENCH_CACHE"  # where the tokenized files go; default: the datasets cache's cocobench-tokenized/


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import datasets

    return Path(datasets.config.HF_DATASETS_CACHE) / "cocobench-tokenized"


def prefill_segments(method, examples: Sequence[Example], *, directory: Path | None = None, min_examples: int | None = None) -> int:
    """Put the segments of every (non-augmented) example into `method`'s cache, from the tokenized file
    of these examples and this tokenizer (made now when there is none). Returns how many examples were
    filled; 0 when they are fewer than `min_examples` (default MIN_CACHED_EXAMPLES) or the tokenizer has no fast (batch) form."""
    unique = _unique_examples(method, examples)
    fingerprint = tokenizer_fingerprint(method.tokenizer)
    if len(unique) < max(MIN_CACHED_EXAMPLES if min_examples is None else min_examples, 1) or fingerprint is None:
        return 0
    table = tokenize_examples(method, unique, directory or cache_dir(), _fingerprint(method, unique, fingerprint))
    chains = table.column("steps_ids").combine_chunks()
    steps = _rows(chains, _rows(chains.values))  # each example's steps, each step's ids
    for key, question, chain, answer in zip(unique, _rows(table.column("question_ids")), steps, _rows(table.column("answer_ids"))):
        method._segments[key] = Segments(question=question, steps=chain, answer=answer)
    return len(unique)


def _rows(column, items: list | None = None) -> list[tuple]:
    """An arrow list column as one tuple per row, of ints (or of `items`, the rows of its child list
    column): cut from one flat list by the offsets, about twice as fast as `to_pylist` then tuples."""
    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    flat = items if items is not None else column.values.to_numpy().tolist()
    offsets = column.offsets.to_numpy().tolist()
    return [tuple(flat[start:end]) for start, end in zip(offsets, offsets[1:])]


def tokenize_examples(method, unique: Sequence[tuple], directory: Path, fingerprint: str):
    """The segment ids of `unique` (question, steps, answer) keys, an arrow table row by row: read from
    DIRECTORY/segments-FINGERPRINT.arrow, or tokenized with Dataset.map, which writes it."""
    import datasets

    datasets.disable_progress_bars()
    directory.mkdir(parents=True, exist_ok=True)
    source = datasets.Dataset.from_dict({"question": [k[0] for k in unique], "steps": [list(k[1]) for k in unique], "answer": [k[2] for k in unique]})
    fmt = method.format
    ids = datasets.List(datasets.Value("int32"))
    tokenized = source.map(
        _tokenize_batch,
        batched=True,
        batch_size=BATCH_SIZE,
        fn_kwargs={"tokenizer": method.tokenizer, "question_end": fmt.question_end, "step_end": fmt.step_end,
                   "answer_start": fmt.answer_start, "eos": method.ids.eos},
        remove_columns=source.column_names,
        features=datasets.Features({"question_ids": ids, "steps_ids": datasets.List(ids), "answer_ids": ids}),  # int32: half of int64's file
        num_proc=_processes(len(unique)),
        cache_file_name=str(directory / f"segments-{fingerprint}.arrow"),  # datasets writes it whole, then renames
        new_fingerprint=fingerprint,
    )  # fmt: skip
    return tokenized.data.table  # the arrow table (memory-mapped when read from the cache)


def _tokenize_batch(batch: dict[str, list], *, tokenizer, question_end: str, step_end: str, answer_start: str, eos: int) -> dict[str, list]:
    """Method._tokenize for a batch: the question with the tokenizer's special tokens, each step and the
    answer without, EOS after the answer."""
    questions = tokenizer([q + question_end for q in batch["question"]], add_special_tokens=True)["input_ids"]
    flat = [step + step_end for steps in batch["steps"] for step in steps]
    flat_ids = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
    steps, start = [], 0
    for chain in batch["steps"]:  # regroup the flat step list by example
        steps.append(flat_ids[start:start + len(chain)])
        start += len(chain)
    answers = tokenizer([answer_start + a for a in batch["answer"]], add_special_tokens=False)["input_ids"]
    return {"question_ids": questions, "steps_ids": steps, "answer_ids": [ids + [eos] for ids in answers]}


def _unique_examples(method, examples: Sequence[Example]) -> list[tuple]:
    """The segment-cache keys of the examples not yet cached, first occurrence first."""
    keys = dict.fromkeys((e["question"], tuple(e["steps"]), e["answer"]) for e in examples if not e.get(AUGMENTED))
    return [key for key in keys if key not in method._segments]


def tokenizer_fingerprint(tokenizer) -> str | None:
    """SHA-256 of the fast tokenizer's full definition (vocabulary, pre-tokenizer, post-processor, added
    tokens); None for a tokenizer without one (tokenized on the fly, as before)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    return hashlib.sha256(f"{type(tokenizer).__name__}\n{backend.to_str()}".encode()).hexdigest()


def _fingerprint(method, unique: Sequence[tuple], tokenizer_print: str) -> str:
    """What the tokenized file depends on: the examples (in order), the tokenizer, the sequence format."""
    digest = hashlib.sha256(f"{TOKENIZATION_VERSION}\n{tokenizer_print}\n{method.format!r}\n{method.ids.eos}\n".encode())
    for question, steps, answer in unique:
        digest.update(repr((question, steps, answer)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def _processes(rows: int) -> int | None:
    """Worker processes for Dataset.map: one per ROWS_PER_PROCESS rows, at most the CPUs less one."""
    workers = min(rows // ROWS_PER_PROCESS, (os.cpu_count() or 1) - 1)
    return workers if workers > 1 else None


def word_tokenizer(texts: Sequence[str], *, directory: Path | None = None, min_examples: int | None = None):
    """`build_word_tokenizer(texts)`, its vocabulary counted once per data: read back from
    DIRECTORY/vocabulary-FINGERPRINT.json (the tokenizer's own JSON form) when these texts built one before."""
    from tokenizers import Tokenizer

    from cocobench.io import atomic_write_text
    from cocobench.tokenizer import build_word_tokenizer, word_tokenizer_core, wrap_word_tokenizer

    if len(texts) < max(MIN_CACHED_EXAMPLES if min_examples is None else min_examples, 1):
        return build_word_tokenizer(texts)
    digest = hashlib.sha256(f"{TOKENIZATION_VERSION}\nword-level\n".encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")  # ["ab", "c"] and ["a", "bc"] differ
    file = (directory or cache_dir()) / f"vocabulary-{digest.hexdigest()[:32]}.json"
    if file.is_file():
        return wrap_word_tokenizer(Tokenizer.from_str(file.read_text(encoding="utf-8")))
    core = word_tokenizer_core(texts)
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, core.to_str())
    return wrap_word_tokenizer(core)
