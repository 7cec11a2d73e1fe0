"""`cocobench gen TASK`: deterministic data generators, one command per task (options differ).

Each task's command lives in its own module (`gen_<task>.py`) and attaches itself to `gen_app`.
"""

from __future__ import annotations

import typer

from cocobench.cli import app

gen_app = typer.Typer(help="Generate a task's train/valid/test splits (deterministic for a --seed).", no_args_is_help=True)
app.add_typer(gen_app, name="gen")

for _task in ("prosqa", "prontoqa", "mult", "gsm"):
    try:
        __import__(f"cocobench.cli.gen_{_task}")
    except ModuleNotFoundError as exc:
        if exc.name != f"cocobench.cli.gen_{_task}":
            raise
