"""`cocobench gen TASK`: deterministic data generators, one command per task (options differ).

Each command is made from its task's generator settings (a dataclass in cocobench/tasks/, see
cocobench/tasks/generator.py): one option per field, with the field's help, default and check; the
class docstring is the command's help. A new generator is a settings class and its task's
`generator=`; nothing here changes.
"""

from __future__ import annotations

import inspect
from dataclasses import Field, fields
from pathlib import Path
from typing import Any, Optional

import typer

from cocobench.cli import app
from cocobench.cli.common import quiet_option
from cocobench.cli.setting_options import option, with_options
from cocobench.tasks import generator_names, get_generator
from cocobench.tasks.generator import REQUIRED, GeneratorSettings, option_flag

gen_app = typer.Typer(help="Generate a task's train/valid/test splits (deterministic for a --seed).", no_args_is_help=True)
app.add_typer(gen_app, name="gen")

# A setting's type -> the type its option parses to.
ANNOTATIONS = {"int": int, "int | None": Optional[int], "bool": bool, "str": str, "Path | None": Optional[Path], "list[Path]": list[Path]}


def generator_options(settings: type[GeneratorSettings]) -> list[inspect.Parameter]:
    """One keyword parameter (a Typer option) per generator setting, in field order."""
    return [generator_option(f) for f in fields(settings)]


def generator_option(f: Field) -> inspect.Parameter:
    note = f.metadata["note"]
    note = note() if callable(note) else note
    help_text = f.metadata["help"] + (f" [default: {note}]" if note is not None else "")  # cli.common.show_defaults shows it
    default: Any = ... if f.default is REQUIRED else f.default
    info = typer.Option(default, option_flag(f), help=help_text, metavar=f.metadata["metavar"])
    return option(f.name, ANNOTATIONS[f.type], info)


def generator_command(settings: type[GeneratorSettings]):
    """`gen TASK`: its settings' options and -q; checks them, then writes the data."""

    @with_options(*generator_options(settings), option("quiet", bool, quiet_option(settings.quiet_help)))
    def command(quiet: bool, **values: Any) -> None:
        settings(**values).write(quiet=quiet)

    command.__doc__ = settings.__doc__
    return command


for _name in generator_names():
    gen_app.command(_name)(generator_command(get_generator(_name)))
