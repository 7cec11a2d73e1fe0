"""Generator settings: what `cocobench gen TASK` takes, declared once per generator as a dataclass.

A generated task declares its generator's settings in its own module (`prosqa.ProsQASettings`, ...),
one field per setting made with `gen_setting`: its default, its --help text and its check, as the run
settings of cocobench/config.py are. `gen TASK`'s options are generated from these fields
(cocobench/cli/gen.py), and a suite's `generate:` mapping is read into the same dataclass
(`GeneratorSettings.from_mapping`), so both take the same names, defaults and checks. The class
docstring is the command's help; the task's `Task.generator` names the class (the registry in
cocobench/tasks/__init__.py turns that into the list of generators).

This module also writes what a generator makes, for the command line and suites alike: --out is
checked before any work and held by a lock, progress bars go to stderr, and the splits and
meta.json are written whole.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cocobench.checks import positive, seed_range
from cocobench.errors import CocobenchError

REQUIRED: Any = dataclasses.MISSING  # a setting without a default (`gen gsm --from`)
DATA_ROOT = Path("data")  # `gen TASK` without --out writes data/TASK
MAX_SPLIT = 10_000_000  # examples per generated split: ~500x the paper's largest, and still fits in memory

Check = Callable[[str, Any], None]  # (the option's flag, a value that is not None) -> raises CocobenchError

# A setting's type (its annotation) -> the types a suite's YAML value may have, and what to call them.
KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "int": ((int,), "an integer"),
    "int | None": ((int, type(None)), "an integer"),
    "bool": ((bool,), "true or false"),
    "str": ((str,), "text"),
    "Path | None": ((str, type(None)), "a path"),
    "list[Path]": ((list, str), "a path or a list of paths"),
}


def gen_setting(default: Any, help: str, *, check: Check | None = None, choices: tuple[str, ...] | None = None,
                note: str | Callable[[], str] | None = None, flag: str | None = None, metavar: str | None = None) -> Any:
    """A generator settings field. `help` is the option's --help text; `note` the default it shows when
    the value alone would not say it (`data/prosqa`; a callable: read when --help is built); `check` and `choices` its checks (None always
    passes); `flag` the option's name when not --NAME (`--from`); `metavar` how --help names its value."""
    metadata = {"help": help, "check": check, "choices": choices, "note": note, "flag": flag, "metavar": metavar}
    return field(default=default, metadata=metadata)


def option_flag(f: dataclasses.Field) -> str:
    """The command-line spelling of a setting: `min_nodes` -> `--min-nodes` (or its own `flag`)."""
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


# --- the settings every generator with random splits shares (each call makes a new field) ---
def out_setting(task: str, what: str = "train.json, valid.json, test.json and meta.json") -> Any:
    return gen_setting(None, f"Directory to write {what} into.", note=f"data/{task}")


def overwrite_setting() -> Any:
    return gen_setting(False, "Replace an --out directory that already holds files.")


def seed_setting() -> Any:
    return gen_setting(0, "Random seed; the same seed and options give byte-identical files.", check=seed_range)


def split_setting(default: int, help: str) -> Any:
    return gen_setting(default, help, check=split_size)


def split_size(option: str, value: int) -> None:
    """A split's size: positive, and bounded (a split is built in memory before it is written)."""
    positive(option, value)
    if value > MAX_SPLIT:
        raise CocobenchError(f"{option} {value} is more than {MAX_SPLIT:,} examples (a split is held in memory); lower it")


def one_of(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise CocobenchError(f"{option} must be {' or '.join(choices)}, got '{value}'")


@dataclass
class GeneratorSettings:
    """The base of every generator's settings: checks, a suite's mapping, and writing the data.

    A generator of random splits has `train`, `valid`, `test` and `seed` fields and defines `splits`
    and `meta`; one that converts files (gsm) defines `write` itself."""

    quiet_help = "No progress bar or summary on stderr."  # `gen TASK --quiet`'s help (not a setting)

    def __post_init__(self) -> None:
        for f in fields(self):  # a suite's YAML gives paths as text
            value = getattr(self, f.name)
            if f.type == "Path | None" and isinstance(value, str):
                setattr(self, f.name, Path(value))
            elif f.type == "list[Path]":
                setattr(self, f.name, [Path(v) for v in ([value] if isinstance(value, str) else value)])

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any], *, task: str, where: str) -> GeneratorSettings:
        """The settings a suite's `generate:` gives (`min_nodes: 8` or `min-nodes: 8`), every key a
        setting and every value of its type; the values are checked by `check`, when the data is made."""
        by_name = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in mapping.items():
            name = str(key).replace("-", "_")
            if name not in by_name:
                options = ", ".join(n.replace("_", "-") for n in by_name)
                raise CocobenchError(f"{where}: '{key}' is not an option of `cocobench gen {task}`; its options: {options}")
            kinds, want = KINDS[by_name[name].type]
            want = " or ".join(by_name[name].metadata["choices"] or ()) or want
            items = value if isinstance(value, list) and list in kinds else [value]
            if any(isinstance(v, bool) and bool not in kinds or not isinstance(v, kinds) or isinstance(v, list) for v in items):
                raise CocobenchError(f"{where}: '{key}' of `cocobench gen {task}` must be {want}, got {value!r}; fix the suite file")
            values[name] = value
        missing = [name for name, f in by_name.items() if f.default is REQUIRED and name not in values]
        if missing:
            raise CocobenchError(f"{where}: `cocobench gen {task}` needs '{missing[0]}'; add it")
        return cls(**values)

    def check(self) -> None:
        """Every setting's own check (in field order), then `check_together`: before any work starts."""
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.metadata["choices"] is not None:
                one_of(option_flag(f), value, f.metadata["choices"])
            if f.metadata["check"] is not None:
                f.metadata["check"](option_flag(f), value)
        self.check_together()

    def check_together(self) -> None:
        """The checks of settings that must agree (min <= max, ...); none by default."""

    def task_name(self) -> str:
        """The task of the data written (the default --out is data/<it>; meta.json's `generator`)."""
        raise NotImplementedError

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

    def splits(self, progress: Callable[[str, int], None]) -> dict[str, list]:
        """The generated splits (`progress(split, n)`: n more examples of that split)."""
        raise NotImplementedError

    def meta(self) -> dict[str, Any]:
        """meta.json: what made the files, enough to make them again."""
        raise NotImplementedError

    def summary_note(self) -> str:
        """Said after the counts of what was written (mult: ' (4x4 digits)')."""
        return ""

    def write(self, *, quiet: bool = False) -> Path:
        """Check the settings, generate the splits and write them with meta.json into --out; returns --out."""
        self.check()
        out = data_out_dir(self.out, self.task_name(), overwrite=self.overwrite)
        generate_and_write(out, self.sizes, self.splits, self.meta(), quiet=quiet, overwrite=self.overwrite, note=self.summary_note())
        return out


# ----------------------------------------------------------------------------------------------
# Writing a data directory


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


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

    stderr = stderr_console()
    columns = (TextColumn("{task.description:>5}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with data_dir_lock(out, overwrite=overwrite):
        with Progress(*columns, console=stderr, disable=quiet, transient=False) as progress:
            bars = {name: progress.add_task(name, total=sizes[name]) for name in generation_order(sizes)}
            splits = generate(lambda split, n: progress.advance(bars[split], n))
        write_data_dir(out, splits, meta)  # whole: a temporary sibling, then one rename
    if not quiet:
        counts = ", ".join(f"{len(examples)} {name}" for name, examples in splits.items())
        stderr.print(f"wrote {counts}{note} to {out}")
