"""Option types and output helpers shared by the commands (defined once, like lighteval)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from cocobench.errors import CocobenchError

# Tables and JSON go to stdout; progress, logs and warnings to stderr.
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True)


_DEFAULT_NOTE = re.compile(r"\s*\\?\[default: ([^\]]*)\]")


def default_note(value: Any) -> str:
    """A default as --help shows it: on/off for a flag, an enum's value, `none` for None."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value.value if isinstance(value, Enum) else value)


def show_defaults(command: Callable) -> Callable:
    """Make every option of a command state its default in --help (a decorator, on every command).

    A note written in the help (`[default: data/TASK]`: a default the value alone does not say) is kept,
    else the option's default value is shown; required options are left to Typer's `[required]`. The
    brackets are escaped: rich would read `[default: 50]` as markup and drop it. The settings options of
    `run` and `eval` come with their notes (cli/setting_options.py).
    """
    import inspect

    for parameter in inspect.signature(command).parameters.values():
        info = parameter.default
        if not isinstance(info, typer.models.OptionInfo) or info.default is ...:
            continue
        written = _DEFAULT_NOTE.search(info.help or "")
        note = written.group(1) if written else default_note(info.default)
        info.help = f"{_DEFAULT_NOTE.sub('', info.help or '').strip()} \\[default: {note}]".strip()
        info.show_default = False  # the note above says it; click would add a second one
    return command


class OutputFormat(str, Enum):
    """--format: one set of names for every command that prints a table or metrics."""

    rich = "rich"  # a terminal table
    markdown = "markdown"  # for a paper, a PR comment or a notebook
    csv = "csv"  # one line per row, for a spreadsheet
    json = "json"  # machine-readable


def format_option(formats: tuple[str, ...] = tuple(OutputFormat.__members__), what: str = "the output", *, panel: str | None = None):
    """The --format option; every name is accepted, and `check_format` says which this command cannot print."""
    return typer.Option(OutputFormat.rich, "--format", help=f"How to print {what}: {' | '.join(formats)}.", rich_help_panel=panel)


def json_alias_option(*, panel: str | None = None):
    """--json, kept as the short spelling of `--format json` (checked by `check_format`)."""
    return typer.Option(False, "--json", help="The same as --format json.", rich_help_panel=panel)


def quiet_option(what: str = "No progress output or notes on stderr."):
    """-q/--quiet, the same two spellings on every command."""
    return typer.Option(False, "--quiet", "-q", help=what)


def check_format(value: OutputFormat, command: str, formats: tuple[str, ...], *, json_alias: bool = False) -> str:
    """The format to print in: --json is `--format json`; a format this command cannot print is one line (exit 2)."""
    name = value.value
    if json_alias:
        if name not in ("rich", "json") or (name == "rich" and option_given("output_format")):
            raise CocobenchError(f"--json means --format json, but --format {name} was also given; pass one of them")
        name = "json"
    if name not in formats:
        raise CocobenchError(f"`{command}` cannot print --format {name}; use one of {', '.join(formats)}")
    return name


def option_given(parameter: str) -> bool:
    """Whether the running command's option was given (on the command line or by the environment), not defaulted."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover (standalone click, older Typer)
        from click import get_current_context

    ctx = get_current_context(silent=True)
    source = ctx.get_parameter_source(parameter) if ctx is not None else None
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def positive(name: str, value: int) -> int:
    if value <= 0:
        raise CocobenchError(f"{name} must be a positive integer, got {value}")
    return value


MAX_SPLIT = 10_000_000  # examples per generated split: ~500x the paper's largest, and still fits in memory


def split_size(name: str, value: int) -> int:
    """A split's size: positive, and bounded (a split is built in memory before it is written)."""
    if positive(name, value) > MAX_SPLIT:
        raise CocobenchError(f"{name} {value} is more than {MAX_SPLIT:,} examples (a split is held in memory); lower it")
    return value


def split_sizes(train: int, valid: int, test: int) -> dict[str, int]:
    """--train/--valid/--test, each checked to be positive and bounded."""
    return {"train": split_size("--train", train), "valid": split_size("--valid", valid), "test": split_size("--test", test)}


def seed(value: int) -> int:
    """A generator's --seed: the range `run --seed` takes, so that every seed gen accepts a run accepts too."""
    from cocobench.config import seed_range

    seed_range("--seed", value)
    return value


DATA_ROOT = Path("data")  # `gen TASK` without --out writes data/TASK


def data_out_dir(out: Path | None, task: str, *, overwrite: bool) -> Path:
    """--out, or data/TASK without it; checked (before anything is generated) by `check_out_dir`."""
    out = DATA_ROOT / task if out is None else out
    check_out_dir(out, overwrite=overwrite)
    return out


def check_out_dir(out: Path, *, overwrite: bool = False) -> None:
    """Fail before generating (and without creating anything) when --out cannot be written, or when it
    already holds files and --overwrite was not given (a regenerated split would silently change runs)."""
    here = Path.cwd()
    if out.resolve() == here or out.resolve() in here.parents:
        # gen replaces --out whole: the current directory (or one above it) cannot be set aside and replaced
        raise CocobenchError(f"--out '{out}' is the current directory or one above it; choose a directory of its own, e.g. data/NAME")
    if out.exists() and not out.is_dir():
        raise CocobenchError(f"--out '{out}' is a file, not a directory; choose another --out")
    if out.is_dir() and not overwrite and any(out.iterdir()):
        raise CocobenchError(f"--out '{out}' already holds files; pass --overwrite to replace them, or choose another --out")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CocobenchError(f"cannot write --out '{out}': '{existing}' is not a writable directory; choose another --out")


@contextlib.contextmanager
def data_dir_lock(out: Path, *, overwrite: bool) -> Iterator[Path]:
    """Hold gen's --out for this process (a second gen into it: `'DIR' is in use by cocobench (pid N)`,
    exit 2), checking it again once held. The lock file sits beside the directory, which is replaced whole."""
    from cocobench.io import directory_lock

    with directory_lock(out, beside=True):
        check_out_dir(out, overwrite=overwrite)  # again, now that no other gen writes there
        yield out


def generate_and_write(out: Path, sizes: dict[str, int], generate: Callable, meta: dict[str, Any], *, quiet: bool, overwrite: bool, note: str = "") -> None:
    """Run `generate(progress)` under one progress bar per split (`progress(split, n)` advances one),
    then write the splits and meta.json atomically and say what was written; `out` is locked throughout."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cocobench.examples import write_data_dir
    from cocobench.tasks.base import generation_order

    columns = (TextColumn("{task.description:>5}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with data_dir_lock(out, overwrite=overwrite):
        with Progress(*columns, console=stderr, disable=quiet, transient=False) as progress:
            bars = {name: progress.add_task(name, total=sizes[name]) for name in generation_order(sizes)}
            splits = generate(lambda split, n: progress.advance(bars[split], n))
        write_data_dir(out, splits, meta)  # whole: a temporary sibling, then one rename
    if not quiet:
        counts = ", ".join(f"{len(examples)} {name}" for name, examples in splits.items())
        stderr.print(f"wrote {counts}{note} to {out}")

