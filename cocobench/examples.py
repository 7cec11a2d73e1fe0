"""The one example format every task shares (docs/data.md), and the loader for it.

A split is a JSON array (or JSON Lines) of objects with at least `question` (str), `steps` (list of
str) and `answer` (str). Task-specific fields (ProsQA's `edges`, `root`, ...) are kept verbatim.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cocobench.errors import CocobenchError
from cocobench.io import atomic_directory, atomic_write_text

Example = dict[str, Any]
REQUIRED_FIELDS = {"question": str, "steps": list, "answer": str}
SPLITS = ("train", "valid", "test")


def validate_example(example: Any, where: str, *, text_checked: bool = False) -> Example:
    """The example, or a one-line error naming `where`. `text_checked`: its file holds no surrogate
    escape (`_may_hold_surrogates`), so no string of it can be a lone surrogate: that check is skipped."""
    if not isinstance(example, dict):
        raise CocobenchError(f"{where}: expected a JSON object with question/steps/answer, got {type(example).__name__}")
    for field, kind in REQUIRED_FIELDS.items():
        if field not in example:
            raise CocobenchError(f"{where}: missing field '{field}'; every example needs question, steps and answer")
        if not isinstance(example[field], kind):
            raise CocobenchError(f"{where}: field '{field}' must be a {kind.__name__}, got {type(example[field]).__name__}")
    if not all(isinstance(step, str) for step in example["steps"]):
        raise CocobenchError(f"{where}: every entry of 'steps' must be a string")
    if text_checked:
        return example
    try:  # JSON's "\ud800" loads, but a lone surrogate is not text: it fails at the first write or tokenization
        json.dumps(example, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise CocobenchError(f"{where}: a lone surrogate escape (such as \\ud800) is not valid Unicode text; fix or remove it") from None
    return example


def load_examples(path: str | Path) -> list[Example]:
    """Read and validate a JSON array or JSON Lines file; errors name the file and line."""
    return read_examples(path)[0]


def read_examples(path: str | Path) -> tuple[list[Example], str]:
    """`load_examples`, and the fingerprint of the bytes it read (what `io.file_fingerprint` gives for
    the file): the examples' identity for caches, taken from the same read as the examples."""
    import hashlib

    path = Path(path)
    if path.is_dir():
        raise CocobenchError(f"data file '{path}' is a directory; pass a .json or .jsonl file (a split such as '{path / 'test.json'}')")
    if not os.path.lexists(path):
        raise CocobenchError(f"data file '{path}' does not exist; pass an existing .json or .jsonl file")
    require_regular_file(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise CocobenchError(f"{path}: not UTF-8 text; pass a JSON or JSON Lines file") from None
    if "\r" in text:  # what reading in text mode does (universal newlines)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _parse_examples(path, text), "sha256:" + hashlib.sha256(data).hexdigest()


def _parse_examples(path: Path, text: str) -> list[Example]:
    if not text.strip():
        raise CocobenchError(f"{path}: file is empty; expected a JSON array or JSON Lines of examples")
    text_checked = not _may_hold_surrogates(text)
    if text.lstrip().startswith("["):
        try:
            with without_gc():
                records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CocobenchError(f"{path}:{exc.lineno}: malformed or truncated JSON ({exc.msg}); regenerate or fix the file") from None
        except RecursionError:
            raise too_deep(path) from None
        if not isinstance(records, list):
            raise CocobenchError(f"{path}: expected a JSON array of examples")
        if text_checked and _plainly_valid(records):  # the common case, checked at once; else each example, for its error
            return records
        return [validate_example(r, f"{path}: example {i}", text_checked=text_checked) for i, r in enumerate(records)]
    examples = []
    with without_gc():
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                if not examples and _is_one_json_value(text):
                    raise CocobenchError(f"{path}: expected a JSON array of examples (or one example object per line), got a single JSON value over several lines") from None
                raise CocobenchError(f"{path}:{lineno}: malformed JSON line ({exc.msg}); expected one example object per line") from None
            except RecursionError:
                raise too_deep(f"{path}:{lineno}") from None
            examples.append(validate_example(record, f"{path}:{lineno}", text_checked=text_checked))
    return examples


@contextlib.contextmanager
def without_gc() -> Iterator[None]:
    """Python's cycle collector paused while a block builds millions of objects that hold no reference
    cycle (parsed JSON is a tree): it would walk them again and again for nothing, three quarters of
    json.loads' time on 385k examples. Restored as it was (paused stays paused)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # JSON's escape of a UTF-16 surrogate, \ud800-\udfff


def _may_hold_surrogates(text: str) -> bool:
    """Whether a string loaded from this JSON text can hold a lone surrogate: only through an escape,
    since UTF-8 text has none (an escaped backslash before `ud8..` matches too: the full check then runs)."""
    return SURROGATE_ESCAPE.search(text) is not None


def _plainly_valid(records: list) -> bool:
    """Every record passes `validate_example`'s type checks (parsed JSON holds exactly dict, list, str)."""
    return all(type(r) is dict and type(r.get("question")) is str and type(r.get("answer")) is str and type(steps := r.get("steps")) is list
               and all(type(step) is str for step in steps) for r in records)  # fmt: skip


def _is_one_json_value(text: str) -> bool:
    """Whether the whole file is one JSON value (a pretty-printed object, not JSON Lines)."""
    try:
        json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    return True


def too_deep(where: str | Path) -> CocobenchError:
    """JSON nested past Python's recursion limit: no example or results file is, so the file is not one."""
    return CocobenchError(f"{where}: JSON nested too deeply to be examples or results; regenerate or fix the file")


def dump_examples(examples: Sequence[Example]) -> str:
    """Serialise a split the way the official ProsQA files are: one JSON array."""
    return json.dumps(list(examples), ensure_ascii=False) + "\n"


def write_examples(path: str | Path, examples: Sequence[Example]) -> None:
    atomic_write_text(path, dump_examples(examples))


def write_splits(out_dir: str | Path, splits: dict[str, Sequence[Example]], meta: dict[str, Any]) -> None:
    """Write OUT/{train,valid,test}.json and OUT/meta.json, each atomically; meta last."""
    out_dir = Path(out_dir)
    for name, examples in splits.items():
        write_examples(out_dir / f"{name}.json", examples)
    meta = {**meta, "counts": {name: len(ex) for name, ex in splits.items()}}
    atomic_write_text(out_dir / "meta.json", json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def write_data_dir(out_dir: str | Path, splits: dict[str, Sequence[Example]], meta: dict[str, Any]) -> None:
    """`write_splits` into a temporary sibling of `out_dir`, then rename it to `out_dir` (replacing it):
    an interrupted `gen` leaves the old directory (or none), never a mix of old and new splits."""
    with atomic_directory(out_dir) as tmp:
        write_splits(tmp, splits, meta)


def find_split(data_dir: str | Path, split: str) -> Path:
    """The file of one split in a data directory (`test.json`, `test.jsonl`, `prosqa_test.json`)."""
    data_dir = Path(data_dir)
    if data_dir.is_file():
        raise CocobenchError(f"data directory '{data_dir}' is a file; pass the directory holding train/valid/test splits (e.g. '{data_dir.parent}')")
    if not data_dir.is_dir():
        raise CocobenchError(f"data directory '{data_dir}' does not exist; generate one with `cocobench gen`")
    candidates = [data_dir / f"{split}.json", data_dir / f"{split}.jsonl"]
    candidates += sorted(data_dir.glob(f"*_{split}.json")) + sorted(data_dir.glob(f"*_{split}.jsonl"))
    present = [c for c in candidates if os.path.lexists(c)]  # a broken link too: it is there, and wrong
    if not present:
        raise CocobenchError(f"data directory '{data_dir}' has no {split} split; expected {split}.json or {split}.jsonl")
    if len(present) > 1:  # which one a run used would depend on a lookup order nobody sees
        raise CocobenchError(f"data directory '{data_dir}' has {len(present)} {split} splits ({', '.join(p.name for p in present)}); keep one of them")
    require_regular_file(present[0])
    return present[0]


def require_regular_file(path: Path) -> None:
    """A split that is there but cannot be read as a file: say what it is (never "no such split")."""
    if path.is_file():
        return
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:  # Python < 3.13 reports a symlink loop this way
            raise CocobenchError(f"data file '{path}' is a symbolic link loop; point it at a JSON or JSON Lines file") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CocobenchError(f"data file '{path}' is a symbolic link loop; point it at a JSON or JSON Lines file") from None
            raise CocobenchError(f"data file '{path}' is a broken symbolic link (to '{os.readlink(path)}'); point it at an existing file") from None
    kind = "a directory" if path.is_dir() else "a FIFO" if path.is_fifo() else "a device" if path.is_char_device() or path.is_block_device() else "not a regular file"
    raise CocobenchError(f"data file '{path}' is {kind}, not a regular file; replace it with a JSON or JSON Lines file")


def sequence_text(example: Example) -> str:
    """The training text (the paper's GPT-2 convention): question, one step per line, then '### answer'; EOS follows."""
    return example["question"] + "\n" + "".join(step + "\n" for step in example["steps"]) + "### " + example["answer"]
