"""What every task provides: a name, a validity checker, and how to recognise its examples."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocobench.examples import SPLITS, Example

# Generators draw test first, then valid, then train, each skipping questions already drawn: the test
# set then never depends on --train.
SPLIT_ORDER = ("test", "valid", "train")
PROGRESS_EVERY = 1000  # examples per progress report: one report per example would dominate fast generators


def report_progress(progress: Callable[[str, int], None] | None, split: str, done: int, total: int) -> None:
    """After each new example of a split: tell `progress` about every PROGRESS_EVERY, and the last few."""
    if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
        progress(split, done % PROGRESS_EVERY or PROGRESS_EVERY)


def check_sizes(sizes: dict[str, int]) -> None:
    """Every requested split size must be positive (named as its CLI option)."""
    from cocobench.errors import CocobenchError

    for split, size in sizes.items():
        if size <= 0:
            raise CocobenchError(f"--{split} must be a positive integer, got {size}")


def generation_order(sizes: dict[str, int]) -> list[str]:
    """The split names of `sizes` in SPLIT_ORDER (any other names after, alphabetically)."""
    return sorted(sizes, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))


def write_default_splits(out_dir: Path, default_sizes: tuple[int, int, int], generate_splits: Callable, meta: Callable, seed: int = 0) -> None:
    """What `generate_default` does for every generated task: default sizes, written as `cocobench gen` would."""
    from cocobench.examples import write_data_dir

    sizes = dict(zip(SPLITS, default_sizes))
    write_data_dir(out_dir, generate_splits(seed, sizes), meta(seed, sizes))


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    # Problems with one example (empty list = valid). Used by `data check` and by the tests.
    check: Callable[[Example], list[str]]
    # True when an example looks like this task's (lets `data check FILE` work without --task).
    recognizes: Callable[[Example], bool]
    # Extra per-file statistics for `data stats` (name -> value); default none.
    extra_stats: Callable[[list[Example]], dict[str, Any]] = field(default=lambda examples: {})
    # Per-example integer features of the examples it can read, by name (`data compare`); default none.
    features: Callable[[list[Example]], dict[str, list[int]]] = field(default=lambda examples: {})
    # Default split sizes of the generator (train, valid, test), or None for load-only tasks.
    default_sizes: tuple[int, int, int] | None = None
    # Writes the task's default splits into a directory (what `cocobench run --task T` uses without --data).
    generate_default: Callable[[Path], None] | None = None
    # The generator's VERSION, as meta.json records it: default data of another version is made again.
    version: str | None = None
    # The answers a two-option question allows, the gold one among them (ProsQA: the two concepts;
    # ProntoQA: True/False), or None for open answers. Evaluation reads each prediction's choice with it.
    options: Callable[[Example], tuple[str, ...] | None] = field(default=lambda example: None)
    # The settings dataclass of `cocobench gen NAME` (a tasks.generator.GeneratorSettings), or None when no
    # command of that name makes its data (prosqa-symbolic: `gen prosqa --format symbolic`; read-only tasks).
    generator: type | None = None
    # Its column in `cocobench table`: the paper's Table 1 order (GSM8k 0, ProntoQA 1, ProsQA 2), then iCoT's
    # multiplication (3); None: after those, alphabetically.
    table_column: int | None = None
