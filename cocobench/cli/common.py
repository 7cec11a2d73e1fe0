"""Option types and output helpers shared by the commands (defined once, like lighteval)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from cocobench.errors import CocobenchError

# Tables and JSON go to stdout; progress, logs and warnings to stderr.
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def positive(name: str, value: int) -> int:
    if value <= 0:
        raise CocobenchError(f"{name} must be a positive integer, got {value}")
    return value


def split_sizes(train: int, valid: int, test: int) -> dict[str, int]:
    """--train/--valid/--test, each checked to be positive."""
    return {"train": positive("--train", train), "valid": positive("--valid", valid), "test": positive("--test", test)}


DATA_ROOT = Path("data")  # `gen TASK` without --out writes data/TASK


def data_out_dir(out: Path | None, task: str, *, overwrite: bool) -> Path:
    """--out, or data/TASK without it; checked (before anything is generated) by `check_out_dir`."""
    out = DATA_ROOT / task if out is None else out
    check_out_dir(out, overwrite=overwrite)
    return out


def check_out_dir(out: Path, *, overwrite: bool = False) -> None:
    """Fail before generating (and without creating anything) when --out cannot be written, or when it
    already holds files and --overwrite was not given (a regenerated split would silently change runs)."""
    if out.exists() and not out.is_dir():
        raise CocobenchError(f"--out '{out}' is a file, not a directory; choose another --out")
    if out.is_dir() and not overwrite and any(out.iterdir()):
        raise CocobenchError(f"--out '{out}' already holds files; pass --overwrite to replace them, or choose another --out")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CocobenchError(f"cannot write --out '{out}': '{existing}' is not a writable directory; choose another --out")


def generate_and_write(out: Path, sizes: dict[str, int], generate: Callable, meta: dict[str, Any], *, quiet: bool, note: str = "") -> None:
    """Run `generate(progress)` under one progress bar per split (`progress(split, n)` advances one),
    then write the splits and meta.json atomically and say what was written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cocobench.examples import write_data_dir
    from cocobench.tasks.base import generation_order

    columns = (TextColumn("{task.description:>5}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, disable=quiet, transient=False) as progress:
        bars = {name: progress.add_task(name, total=sizes[name]) for name in generation_order(sizes)}
        splits = generate(lambda split, n: progress.advance(bars[split], n))
    write_data_dir(out, splits, meta)
    if not quiet:
        counts = ", ".join(f"{len(examples)} {name}" for name, examples in splits.items())
        stderr.print(f"wrote {counts}{note} to {out}")

