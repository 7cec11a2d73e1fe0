"""`cocobench gen TASK`: deterministic data generators, one command per task (options differ).

Each task's command lives in its own module (`gen_<task>.py`) and attaches itself to `gen_app`; the
command line's `_register` (cocobench/cli/__init__.py) imports them after this module.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cocobench.cli import app

gen_app = typer.Typer(help="Generate a task's train/valid/test splits (deterministic for a --seed).", no_args_is_help=True)
app.add_typer(gen_app, name="gen")


def generate_from_settings(task: str, settings: dict, *, quiet: bool = False, where: str = "generate", check_only: bool = False) -> None:
    """Run `cocobench gen TASK` with options given as a mapping ({out: DIR, min_nodes: 8, ...}), as a
    suite's `generate:` does: the same command, defaults and checks as on the command line.
    `check_only`: only check that every key is an option of that command."""
    import inspect

    from typer.models import ParameterInfo

    from cocobench.errors import CocobenchError, unknown_name

    commands = {info.name or info.callback.__name__: info.callback for info in gen_app.registered_commands}
    if task not in commands:
        raise unknown_name("task to generate", task, commands)
    command = commands[task]
    params = inspect.signature(command).parameters
    values = {name: (p.default.default if isinstance(p.default, ParameterInfo) else p.default) for name, p in params.items()}
    for key, value in settings.items():
        name = str(key).replace("-", "_")
        if name not in params or name == "quiet":
            options = ", ".join(n.replace("_", "-") for n in params if n != "quiet")
            raise CocobenchError(f"{where}: '{key}' is not an option of `cocobench gen {task}`; its options: {options}")
        _check_type(task, key, value, params[name].annotation, where)
        values[name] = Path(value) if name == "out" and value is not None else value
    if not check_only:
        command(**{**values, "quiet": quiet})


def _check_type(task: str, key: str, value, annotation: str, where: str) -> None:
    """A YAML value of the type the command-line option parses to (`train: many` is not a number)."""
    from cocobench.errors import CocobenchError

    kinds = {"int": (int,), "float": (int, float), "bool": (bool,), "Optional[Path]": (str, type(None)), "Path": (str,)}.get(str(annotation))
    if kinds is None:  # an option of a type not listed here: the command checks it
        return
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        want = {"int": "an integer", "float": "a number", "bool": "true or false"}.get(str(annotation), "a path")
        raise CocobenchError(f"{where}: '{key}' of `cocobench gen {task}` must be {want}, got {value!r}; fix the suite file")
