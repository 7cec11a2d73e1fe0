"""The `cocobench` command line: a thin Typer layer over the package.

Heavy imports (torch, transformers, datasets) happen inside commands so that `--help` is instant.
Errors the user can fix become one line on stderr and exit code 2, in one place: `_RootGroup.main`.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import sys
import threading

import typer
from typer.core import TyperGroup

# Typer >= 0.20 bundles its own click; fall back to the standalone package on older Typer.
try:
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover
    from click import exceptions as click_exceptions

from cocobench import __version__
from cocobench.allocator import keep_freed_memory
from cocobench.errors import CocobenchError, Interrupted


class _RootGroup(TyperGroup):
    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        with _terminate_as_interrupt():
            self._main(args, prog_name, complete_var, **extra)

    def _main(self, args, prog_name, complete_var, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except CocobenchError as exc:
            _fail(str(exc))
        except click_exceptions.UsageError as exc:
            if not exc.format_message():  # no_args_is_help: the help text was already printed
                sys.exit(2)
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
            _fail(exc.format_message().replace("\n", " ") + hint)
        except click_exceptions.ClickException as exc:
            _fail(exc.format_message().replace("\n", " "))
        except OSError as exc:
            if exc.errno != errno.ENAMETOOLONG:
                raise
            # a path the file system cannot name (a 300-character --out): whichever command met it first
            _fail(f"path too long for the file system: '{exc.filename}'; choose a shorter path")
        except Interrupted as exc:
            print(f"interrupted: {exc}", file=sys.stderr)
            sys.exit(130)
        except (typer.Abort, KeyboardInterrupt):
            print("interrupted", file=sys.stderr)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx):
        # Typer's main turns a KeyboardInterrupt into a silent Exit(130) before `main` above sees it;
        # as an Interrupted it reaches `main`, which says what happened and how to continue.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise Interrupted(f"stopped by {'SIGTERM' if isinstance(exc, Terminated) else 'Ctrl-C'}") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, as Ctrl-C's KeyboardInterrupt is."""


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (what `timeout`, Slurm and `docker stop` send) is handled as Ctrl-C is: the command
    stops where it is, releases its locks, says how to continue and exits 130."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


app = typer.Typer(
    cls=_RootGroup,
    help="Benchmark latent reasoning (Coconut and its baselines) in language models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"cocobench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Benchmark latent reasoning (Coconut and its baselines) in language models."""
    keep_freed_memory()


def _register() -> None:
    # Each command module attaches itself to `app`; importing them here keeps this file tiny.
    from cocobench.cli.common import show_defaults

    for optional in ("gen", "data", "run", "evaluate", "table", "suite", "compare", "analyze"):
        try:
            __import__(f"cocobench.cli.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cocobench.cli.{optional}":
                raise
    for command in _commands(app):  # every option of every command states its default in --help
        show_defaults(command)


def _commands(group: typer.Typer):
    for info in group.registered_commands:
        yield info.callback
    for info in group.registered_groups:
        yield from _commands(info.typer_instance)


_register()


def main() -> None:
    app()
