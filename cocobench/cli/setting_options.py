"""Command-line options generated from the settings dataclasses (cocobench/config.py), like litgpt's.

Typer reads a command's parameters from `inspect.signature`, which honours `__signature__`: `run` and
`eval` are written as `def command(**options)` and given a signature built here, one option per
settings field, with the field's help, its default in the help (escaped: rich would read a bare
`[default: 50]` as markup and drop it) and its group as the help panel. Every option defaults to None
("not given"), so that a `--config` YAML, a saved run's settings or a checkpoint's fill in what the
command line leaves out; flags (False unless given) are the exception.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import Field, fields
from pathlib import Path
from typing import Any, Optional

import typer

from cocobench.cli.common import default_note
from cocobench.config import RunConfig, choice_names, field_kinds, flag, group_of

PANELS = {  # the settings group -> its panel in `run --help`
    "RunSettings": "Run",
    "TrainingSettings": "Training",
    "EvaluationSettings": "Evaluation",
    "DataSettings": "Data",
    "CoconutSettings": "Coconut",
    "PauseSettings": "Pause",
    "ICoTSettings": "iCoT",
    "CodiSettings": "CODI",
    "OutputSettings": "Output",
    "ExecutionSettings": "Execution",
}


def setting_fields(names: Iterable[str] | None = None) -> list[Field]:
    """RunConfig's fields that have a command-line option (all, or those in `names`), in field order."""
    wanted = None if names is None else set(names)
    return [f for f in fields(RunConfig) if f.metadata["cli"] and (wanted is None or f.name in wanted)]


def setting_options(names: Iterable[str] | None = None, *, note: str | None = None, panels: bool = True) -> list[inspect.Parameter]:
    """One keyword parameter (a Typer option) per setting; `note` replaces every default shown (eval: "the run's")."""
    return [setting_option(f, note=note, panel=PANELS[group_of(f.name).__name__] if panels else None) for f in setting_fields(names)]


def setting_option(f: Field, *, note: str | None = None, panel: str | None = None) -> inspect.Parameter:
    kind = next(k for k in field_kinds(f) if k is not type(None))
    name = f"--{flag(f.name)}"
    default: Any = None
    if kind is bool and f.default is False:
        annotation: Any = bool  # a plain flag: given or not
        default = False
    elif kind is bool:
        annotation, name = Optional[bool], f"{name}/--no-{flag(f.name)}"  # on by default: the flag can turn it off
    else:
        annotation = Optional[Path if f.metadata["path"] else kind]
    help_text = f.metadata["help"]
    if f.metadata["choices"] is not None:
        help_text = help_text.replace("{choices}", ", ".join(choice_names(f.metadata["choices"])))
    shown = note or f.metadata["note"] or default_note(f.default)
    names = [name] + ([f.metadata["short"]] if f.metadata["short"] else [])
    info = typer.Option(default, *names, help=f"{help_text} \\[default: {shown}]", show_default=False, rich_help_panel=panel)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def setting_option_info(name: str, *, note: str | None = None) -> typer.models.OptionInfo:
    """One setting's option for a command written with ordinary parameters (`analyze ksweep`):
    `max_new_tokens: Optional[int] = setting_option_info("max_new_tokens", note="the run's")`."""
    (f,) = setting_fields([name])
    return setting_option(f, note=note).default


def given(values: dict[str, Any]) -> dict[str, Any]:
    """The settings as the command line gave them: None where not given (a flag not given included, so
    that a saved run's or a YAML file's value stands), paths as text."""
    flags = {f.name for f in setting_fields(values) if f.default is False}
    return {name: None if name in flags and not value else str(value) if isinstance(value, Path) else value for name, value in values.items()}


def option(name: str, annotation: Any, info: Any) -> inspect.Parameter:
    """A command's own option (not a setting), for `with_options`."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def with_options(*parameters: inspect.Parameter) -> Callable[[Callable], Callable]:
    """Give a `def command(**options)` these parameters, as Typer reads them."""

    def decorate(command: Callable) -> Callable:
        command.__signature__ = inspect.Signature(list(parameters))
        return command

    return decorate
