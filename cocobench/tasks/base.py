"""What every task provides: a name, a validity checker, and how to recognise its examples."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocobench.examples import Example


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
    # Default split sizes of the generator (train, valid, test), or None for load-only tasks.
    default_sizes: tuple[int, int, int] | None = None
    # Writes the task's default splits into a directory (what `cocobench run --task T` uses without --data).
    generate_default: Callable[[Path], None] | None = None
