"""Option types and output helpers shared by the commands (defined once, like lighteval)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from enum import Enum
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
