"""`cocobench run`: train a method on a task and evaluate it on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cocobench.cli import app
from cocobench.cli.common import OutputFormat, check_format, format_option, json_alias_option, print_json
from cocobench.cli.setting_options import given, option, setting_options, with_options

FORMATS = ("rich", "json")  # metrics, not a table: rich is the summary on stderr, json the metrics on stdout


@app.command("run")
@with_options(
    option("config", Optional[Path], typer.Option(None, "--config", help="YAML file of settings (same names as these options); the command line wins.")),
    *setting_options(),  # every setting of cocobench/config.py, by group
    option("output_format", OutputFormat, format_option(FORMATS, "the metrics (rich: the summary on stderr; json: the metrics on stdout)", panel="Output")),
    option("json_output", bool, json_alias_option(panel="Output")),
)
def run(config: Path | None, output_format: OutputFormat, json_output: bool, **settings) -> None:
    """Train METHOD on a task, evaluate it on the test split and write the run directory.

    The run directory holds config.yaml (resolved settings), results.json and checkpoints/{last,best}.
    Settings come from defaults < --config YAML < the command line.
    """
    from cocobench.config import load_yaml, resolve_config
    from cocobench.errors import Interrupted
    from cocobench.rundir import RunDir
    from cocobench.runner import run_experiment

    output = check_format(output_format, "run", FORMATS, json_alias=json_output)
    if config is not None:
        check_config_file(config)
    overrides = given(settings)
    overrides["overwrite"] = settings["overwrite"]  # never inherited: a resume reads config.yaml, which a run started over records
    base = None
    if settings["resume"]:  # a resumed run keeps its saved settings; the runner refuses changes to those that define the result
        saved = RunDir.of(resolve_config(config, overrides)).config  # under --out, or where a fresh run with these settings would go
        if saved.is_file():
            base = load_yaml(saved)
    cfg = resolve_config(config, overrides, base=base)
    try:
        results = run_experiment(cfg)
    except KeyboardInterrupt:
        raise Interrupted(f"resume with cocobench run --out {RunDir.of(cfg).path} --resume") from None
    if output == "json":
        print_json({k: v for k, v in results["metrics"].items() if k != "epochs"} | {"run_name": results["run_name"]})


def check_config_file(path: Path) -> None:
    """A --config file describes a run; it may not set what only a suite sets (a warm start's identity, a
    run's role) nor what `run` does with its directory (--resume, --overwrite: command-line flags)."""
    from dataclasses import fields

    from cocobench.config import RunConfig, flag, load_yaml, normalize_keys
    from cocobench.errors import CocobenchError

    suite_only = {f.name for f in fields(RunConfig) if not f.metadata["cli"]}
    for name, value in normalize_keys(load_yaml(path), str(path)).items():
        if value is None or value is False:  # what a saved config.yaml holds for them: nothing set
            continue
        if name in suite_only:
            raise CocobenchError(f"{path}: '{name}' is set by a suite for its own runs, not by a config file; remove it")
        if name in ("resume", "overwrite"):
            raise CocobenchError(f"{path}: '{name}' is not a setting of the run; remove it and pass --{flag(name)} on the command line")
