"""Examples tokenized once per data and tokenizer: `datasets.Dataset.map` (batched, the fast tokenizer's
batch encoding) writes each example's segment ids to an arrow file named by a fingerprint of the
examples (a run's: of the bytes of its split files, `data_source`), the tokenizer and the sequence
format, and a later run on the same data and tokenizer memory-maps that file (pyarrow alone) instead
of tokenizing again, cutting an example's ids out of it when the method first asks for them.

The ids are those `Method._tokenize` gives, bit for bit (the same tokenizer calls, batched); this module
only fills the method's segment cache. Augmented views (`_augmented`, drawn anew each time) are
still tokenized on the fly, and so is anything the method meets later.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import os
import sys
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
    """COCOBENCH_CACHE, else the datasets cache's cocobench-tokenized/ (`datasets.config.HF_DATASETS_CACHE`,
    found as datasets finds it, without importing datasets: a start on cached data never needs it)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    if "datasets" in sys.modules:
        return Path(sys.modules["datasets"].config.HF_DATASETS_CACHE) / "cocobench-tokenized"
    home = os.path.expanduser(os.getenv("HF_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "huggingface")))
    return Path(os.getenv("HF_DATASETS_CACHE", os.path.join(home, "datasets"))) / "cocobench-tokenized"


def data_source(fingerprints: dict[str, str], **settings) -> str:
    """What a run's examples are a function of, for naming its cache files without hashing every
    example: the fingerprints of the bytes its split files were read from, and the settings that cut
    them (--limit-train, --limit-eval)."""
    from cocobench.io import json_fingerprint

    return json_fingerprint({"files": fingerprints, **settings})


def prefill_segments(method, examples: Sequence[Example], *, directory: Path | None = None, min_examples: int | None = None,
                     source: str | None = None) -> int:
    """Give `method`'s segment cache every (non-augmented) example, from the tokenized file of these
    examples and this tokenizer (made now when there is none): memory-mapped, and cut into an example's
    Segments the first time the method asks for them (`SegmentStore`). Returns how many examples it
    holds; 0 when they are fewer than `min_examples` (default MIN_CACHED_EXAMPLES) or the tokenizer has
    no fast (batch) form. `source` (`data_source`): what determines `examples`, which then names the file
    instead of a hash of every example."""
    unique = _unique_examples(method, examples, keep_cached=source is not None)
    fingerprint = tokenizer_fingerprint(method.tokenizer)
    if len(unique) < max(MIN_CACHED_EXAMPLES if min_examples is None else min_examples, 1) or fingerprint is None:
        return 0
    directory = directory or cache_dir()
    name = _fingerprint(method, unique, fingerprint) if source is None else _source_fingerprint(method, source, fingerprint)
    table = _read_tokenized(directory, name, len(unique))
    if table is None:
        table = tokenize_examples(method, unique, directory, name)
    if not isinstance(method._segments, SegmentStore):
        method._segments = SegmentStore(method._segments)
    method._segments.add_table(unique, table)
    return len(unique)


class SegmentStore(dict):
    """A method's segment cache (`Method._segments`) that also holds tokenized tables: an example's
    Segments are cut from its row the first time they are asked for (and then kept, as any other), so a
    start on cached data builds nothing for the examples it does not touch."""

    def __init__(self, segments=()):
        super().__init__(segments)
        self._rows: dict[tuple, int] = {}  # key -> its row, counted over the tables in order (ints: nothing for the garbage collector to walk)
        self._tables: list[_TokenizedColumns] = []
        self._starts: list[int] = []  # each table's first row

    def add_table(self, keys: Sequence[tuple], table) -> None:
        """The table's rows are `keys`' Segments, in order (a key an earlier table holds stays there)."""
        start = self._starts[-1] + len(self._tables[-1]) if self._tables else 0
        rows = dict(zip(keys, range(start, start + len(keys))))
        rows.update(self._rows)
        self._rows = rows
        self._tables.append(_TokenizedColumns(table))
        self._starts.append(start)

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self._rows

    def __missing__(self, key) -> Segments:
        row = self._rows[key]  # a key in no table: KeyError, as a dict's
        table = bisect.bisect_right(self._starts, row) - 1
        segments = self[key] = self._tables[table].segments(row - self._starts[table])
        return segments


class _TokenizedColumns:
    """The three id columns of a tokenized table as numpy views of its (memory-mapped) arrow buffers,
    chunk by chunk; `segments(row)` cuts one example's ids out of them."""

    def __init__(self, table):
        self.starts, self.chunks = [], []
        self.rows = table.num_rows
        start = 0
        for question, steps, answer in zip(*(table.column(name).chunks for name in ("question_ids", "steps_ids", "answer_ids"))):
            self.starts.append(start)
            start += len(question)
            self.chunks.append(tuple(map(_int32_view, (question.offsets, question.values, steps.offsets, steps.values.offsets,
                                                       steps.values.values, answer.offsets, answer.values))))  # fmt: skip
        if not all(len(c.chunks) == len(self.starts) for c in (table.column("steps_ids"), table.column("answer_ids"))):
            raise ValueError("a tokenized table whose columns are chunked differently")

    def __len__(self) -> int:
        return self.rows

    def segments(self, row: int) -> Segments:
        chunk = bisect.bisect_right(self.starts, row) - 1
        i = row - self.starts[chunk]
        q_offsets, q_ids, chain_offsets, step_offsets, step_ids, a_offsets, a_ids = self.chunks[chunk]
        bounds = step_offsets[chain_offsets[i]:chain_offsets[i + 1] + 1].tolist()  # where each step's ids start, and where the last ends
        first = bounds[0]
        flat = step_ids[first:bounds[-1]].tolist()
        return Segments(question=tuple(q_ids[q_offsets[i]:q_offsets[i + 1]].tolist()),
                        steps=tuple(tuple(flat[a - first:b - first]) for a, b in zip(bounds, bounds[1:])),
                        answer=tuple(a_ids[a_offsets[i]:a_offsets[i + 1]].tolist()))  # fmt: skip


def _int32_view(array):
    """An int32 arrow array (no nulls: ids and list offsets) as a numpy view of its buffer, not a copy
    (`to_numpy` would import pandas, a second or two, for nothing)."""
    import numpy as np
    import pyarrow as pa

    if array.type != pa.int32() or array.null_count:
        raise ValueError(f"a tokenized table with a {array.type} array (or nulls), not int32 ids")
    return np.frombuffer(array.buffers()[1], dtype=np.int32, count=len(array), offset=array.offset * 4)


def _read_tokenized(directory: Path, fingerprint: str, rows: int):
    """The tokenized table of this fingerprint, memory-mapped straight from its arrow file (or the
    per-process files `Dataset.map` wrote with num_proc, in order); None when there is none, or it does
    not hold `rows` rows (then it is made again)."""
    import pyarrow as pa

    whole = directory / f"segments-{fingerprint}.arrow"
    files = [whole] if whole.is_file() else sorted(directory.glob(f"segments-{fingerprint}_[0-9]*_of_[0-9]*.arrow"))
    if not files:
        return None
    try:
        tables = [pa.ipc.open_stream(pa.memory_map(str(file))).read_all() for file in files]  # what datasets does to read its cache files
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    except (OSError, pa.ArrowException):
        table = None
    if table is None or table.num_rows != rows or not {"question_ids", "steps_ids", "answer_ids"} <= set(table.column_names):
        for file in files:  # damaged or partial: Dataset.map would read it as it is; make it again
            file.unlink(missing_ok=True)
        return None
    return table


def tokenize_examples(method, unique: Sequence[tuple], directory: Path, fingerprint: str):
    """The segment ids of `unique` (question, steps, answer) keys, an arrow table row by row: tokenized
    with Dataset.map, which writes them to DIRECTORY/segments-FINGERPRINT.arrow."""
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
    return tokenized.data.table  # the arrow table (memory-mapped from the file just written)


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


def _unique_examples(method, examples: Sequence[Example], keep_cached: bool = False) -> list[tuple]:
    """The segment-cache keys of the examples, first occurrence first: those not yet cached, or all of
    them (`keep_cached`: the file is named by the examples' source, so it must hold every one)."""
    keys = dict.fromkeys((e["question"], tuple(e["steps"]), e["answer"]) for e in examples if not e.get(AUGMENTED))
    return list(keys) if keep_cached else [key for key in keys if key not in method._segments]


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


def _source_fingerprint(method, source: str, tokenizer_print: str) -> str:
    """`_fingerprint` for the examples of `source` (`data_source`): they are a function of it."""
    return hashlib.sha256(f"{TOKENIZATION_VERSION}\n{tokenizer_print}\n{method.format!r}\n{method.ids.eos}\nsource {source}\n".encode()).hexdigest()[:32]


def _processes(rows: int) -> int | None:
    """Worker processes for Dataset.map: one per ROWS_PER_PROCESS rows, at most the CPUs less one."""
    workers = min(rows // ROWS_PER_PROCESS, (os.cpu_count() or 1) - 1)
    return workers if workers > 1 else None


def word_tokenizer(texts: Sequence[str], *, directory: Path | None = None, min_examples: int | None = None, source: str | None = None):
    """`build_word_tokenizer(texts)`, its vocabulary counted once per data: read back from
    DIRECTORY/vocabulary-FINGERPRINT.json (the tokenizer's own JSON form) when these texts built one before.
    `source` (`data_source`): what determines `texts`, which then names the file instead of a hash of
    every text, and `texts` (which may make each text as it is read) is not read when the file is there."""
    from tokenizers import Tokenizer

    from cocobench.io import atomic_write_text
    from cocobench.tokenizer import build_word_tokenizer, word_tokenizer_core, wrap_word_tokenizer

    if len(texts) < max(MIN_CACHED_EXAMPLES if min_examples is None else min_examples, 1):
        return build_word_tokenizer(texts)
    digest = hashlib.sha256(f"{TOKENIZATION_VERSION}\nword-level\n".encode())
    if source is not None:
        digest.update(f"source {source}\n".encode())
    else:
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
