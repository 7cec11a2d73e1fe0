"""One CLI: the same output options, spelled the same way, on every command."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from cocobench.cli import app
from cocobench.cli.common import OutputFormat

# Every command that prints a table or metrics, and the formats it can print.
FORMATS = {
    ("table",): {"rich", "markdown", "csv", "json"},
    ("suite",): {"rich", "markdown", "csv", "json"},
    ("compare",): {"rich", "markdown", "json"},
    ("run",): {"rich", "json"},
    ("eval",): {"rich", "json"},
    ("data", "stats"): {"rich", "json"},
    ("data", "compare"): {"rich", "json"},
    ("analyze", "paths"): {"rich", "markdown", "csv", "json"},
    ("analyze", "curve"): {"rich", "markdown", "csv", "json"},
}


def commands() -> dict[tuple[str, ...], object]:
    """Every leaf command, by its path (`("gen", "mult")`)."""
    root = typer.main.get_command(app)
    found = {}

    def walk(group, path):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                walk(command, (*path, name))
            else:
                found[(*path, name)] = command

    walk(root, ())
    return found


def option(command, name: str):
    return next((p for p in command.params if name in getattr(p, "opts", ())), None)


def test_every_command_has_quiet_as_q():
    for path, command in commands().items():
        quiet = option(command, "--quiet")
        assert quiet is not None and "-q" in quiet.opts, " ".join(path)


@pytest.mark.parametrize("path", sorted(FORMATS))
def test_commands_that_print_tables_or_metrics_take_one_format_option(path):
    command = commands()[path]
    fmt = option(command, "--format")
    assert fmt is not None, " ".join(path)
    assert isinstance(fmt.default, OutputFormat) and fmt.default is OutputFormat.rich  # one option, defined once
    if option(command, "--json") is None:
        return
    assert path in {("run",), ("eval",), ("data", "stats"), ("data", "compare")}  # --json stays where it was


@pytest.mark.parametrize("path", [p for p, formats in FORMATS.items() if len(formats) < 4])
def test_a_format_a_command_cannot_print_is_one_line(path):
    from tests.conftest import one_line_error

    missing = sorted({"rich", "markdown", "csv", "json"} - FORMATS[path])[0]
    # Checked before anything is read or trained: the other arguments may be nonsense.
    extra = {("run",): [], ("eval",): ["--checkpoint", "x", "--data", "y"], ("compare",): ["a", "b"],
             ("data", "stats"): ["x"], ("data", "compare"): ["x", "y"]}[path]
    result = CliRunner().invoke(app, [*path, *extra, "--format", missing])
    one_line_error(result, f"`{' '.join(path)}` cannot print --format {missing}")
