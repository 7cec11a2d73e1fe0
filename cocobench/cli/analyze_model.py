"""`cocobench analyze ksweep|probe|thoughts`: the analyses that run a trained checkpoint. The numbers live
in `cocobench/analysis/` (ksweep.py, probe.py, thoughts.py); `register` adds the commands to `analyze`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from cocobench.cli.common import OutputFormat, check_format, format_option, print_json, quiet_option
from cocobench.cli.setting_options import setting_option_info
from cocobench.errors import CocobenchError

TABLE_FORMATS = ("rich", "markdown", "csv", "json")
THOUGHT_FORMATS = ("rich", "json")

CHECKPOINT = typer.Argument(..., metavar="CHECKPOINT", help="A checkpoint directory (e.g. runs/X/checkpoints/best).")
DATA_HELP = "A split file (JSON/JSONL) or a data directory (its test split is used)."
# The evaluation settings an analysis may change are `eval`'s (cocobench/config.py), with these defaults shown.
RUNS = "the run's"
RUNS_LIMIT = "the run's --limit-eval, if it had one"


def register(analyze_app: typer.Typer) -> None:
    """Add ksweep, probe and thoughts to the `analyze` sub-app."""
    for name, command in (("ksweep", ksweep_command), ("probe", probe_command), ("thoughts", thoughts_command)):
        analyze_app.command(name)(command)  # defaults in --help: cli.__init__ applies show_defaults to every command


def ksweep_command(
    checkpoint: Path = CHECKPOINT,
    data: Path = typer.Option(..., "--data", help=DATA_HELP),
    k: Optional[str] = typer.Option(None, "--k", help="Thoughts before the forced <eot>: a range 0..6, a list 0,1,3, or both (0..2,5). [default: 0..max_latent_stage*c of the checkpoint]"),
    reference: list[Path] = typer.Option([], "--reference", metavar="RUN", help="A CoT / No-CoT run (results.json, run or suite directory) to show beside the sweep; repeat for several."),
    completion: Optional[str] = typer.Option(None, "--completion", help="How a language suffix counts as a valid path after k thoughts (passed to the ProsQA categories of `analyze paths`). [default: theirs]"),
    max_new_tokens: Optional[int] = setting_option_info("max_new_tokens", note=RUNS),
    eval_batch_size: Optional[int] = setting_option_info("eval_batch_size", note=RUNS),
    limit_eval: Optional[int] = setting_option_info("limit_eval", note=RUNS_LIMIT),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory: k<k>/results.json per k, ksweep.json, ksweep.csv, ksweep.png. [default: runs/ksweep-<run>-<data>]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into an --out directory that already holds files (its files are replaced)."),
    quiet: bool = quiet_option(),
    output_format: OutputFormat = format_option(TABLE_FORMATS, "the table (one row per k, then the references)"),
) -> None:
    """Force <eot> after exactly k continuous thoughts, for each k, with one model load (paper Section 5, ProsQA).

    Per k: accuracy, generated tokens, forward passes and the ProsQA reasoning categories. The paper's analysis model mixes earlier stages into training: train it with `cocobench run --uniform-prob P` (the paper and the authors' README say 0.3; the first author later recalled 0.05).
    """
    from cocobench.analysis import ksweep

    output = check_format(output_format, "analyze ksweep", TABLE_FORMATS)
    overrides = {"max_new_tokens": max_new_tokens, "eval_batch_size": eval_batch_size, "limit_eval": limit_eval, "quiet": quiet}  # None: the checkpoint's
    report = ksweep.run(checkpoint, data, ks_text=k, references=reference, out=out, overwrite=overwrite, overrides=overrides, completion=completion)
    if output == "json":
        print_json(report)
        return
    if output == "csv":
        sys.stdout.write(ksweep.to_csv(report))
        return
    header, cells = ksweep.table_rows(report)
    _print_table(f"k-sweep of {report['run']} ({report['examples']} examples)", header, cells, output)


def probe_command(
    checkpoint: Path = CHECKPOINT,
    data: Path = typer.Option(..., "--data", help="A ProsQA split file or data directory (its test split is used)."),
    k: str = typer.Option("1,2", "--k", help="Thoughts after which the frontier is probed: a list 1,2 or a range 1..3 (k >= 1; symbolic ProsQA also k = 0, its frontier being one hop further)."),
    height: str = typer.Option("shortest", "--height", help="Node height for the value-vs-height plot: shortest | longest distance to a leaf (both are saved)."),
    show: Optional[int] = typer.Option(None, "--show", help="Also print example N as a tree with its frontier values."),
    eval_batch_size: Optional[int] = setting_option_info("eval_batch_size", note=RUNS),
    limit_eval: Optional[int] = setting_option_info("limit_eval", note=RUNS_LIMIT),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory: probe.json, parallelism.png, value_height.png. [default: runs/probe-<run>-<data>]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into an --out directory that already holds files (its files are replaced)."),
    quiet: bool = quiet_option(),
    output_format: OutputFormat = format_option(TABLE_FORMATS, "the summary (one row per k; json: the summary and the case study)"),
) -> None:
    """The latent value of each frontier node after k thoughts (paper Section 5, ProsQA).

    After k thoughts the model is forced into language and teacher-forced "Every" (how the next step starts); a frontier node's value is the probability of its name's tokens next (a product over its tokens). Frontier: the root's children at k=1, their children at k=2.
    """
    from cocobench.analysis import probe

    output = check_format(output_format, "analyze probe", TABLE_FORMATS)
    overrides = {"eval_batch_size": eval_batch_size, "limit_eval": limit_eval, "quiet": quiet}
    report, examples = probe.run(checkpoint, data, ks_text=k, height=height, out=out, overwrite=overwrite, overrides=overrides, show=show)
    if output == "json":
        print_json({key: value for key, value in report.items() if key != "records"}
                   | ({"case_study": report["records"][show]} if show is not None else {}))
        return
    header = ["k", "examples", "frontier nodes", "top-1 value", "top-2 value", "top-3 value", "value correct", "value incorrect"]
    cells = [[str(row["k"]), str(row["examples"]), f"{row['frontier_mean']:.2f}", *(_fixed(row[f"top{n}_mean"]) for n in (1, 2, 3)),
              _fixed(row["correct_mean"]), _fixed(row["incorrect_mean"])] for row in report["summary"]]
    _print_table(f"latent value probe of {report['run']} (mean over {report['examples']} examples)", header, cells, output)
    if show is not None and output == "rich":
        from cocobench.cli.common import stdout

        stdout.print(probe.case_study(examples[show], report["records"][show], report["ks"]))


def thoughts_command(
    checkpoint: Path = CHECKPOINT,
    data: Path = typer.Option(..., "--data", help=DATA_HELP),
    index: int = typer.Option(..., "--index", help="The example to decode (0-based, in the data file)."),
    k: Optional[int] = setting_option_info("k", note=RUNS),
    top: int = typer.Option(5, "--top", help="Tokens listed per thought."),
    max_new_tokens: Optional[int] = setting_option_info("max_new_tokens", note=RUNS),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the JSON to this file."),
    quiet: bool = quiet_option(),
    output_format: OutputFormat = format_option(THOUGHT_FORMATS, "the decoded thoughts"),
) -> None:
    """The top tokens of the model's own LM head applied to each continuous thought of one example."""
    from cocobench.analysis import thoughts
    from cocobench.io import atomic_write_json

    output = check_format(output_format, "analyze thoughts", THOUGHT_FORMATS)
    if out is not None and out.is_dir():  # before the model is loaded: --out names a file
        raise CocobenchError(f"--out '{out}' is a directory; pass a file path for the JSON, e.g. '{out / 'thoughts.json'}'")
    decoded = thoughts.run(checkpoint, data, index=index, k=k, top=top, overrides={"max_new_tokens": max_new_tokens, "quiet": quiet})
    if out is not None:
        atomic_write_json(out, decoded)
    if output == "json":
        print_json(decoded)
        return
    from rich.markup import escape
    from rich.table import Table

    from cocobench.cli.common import stdout

    stdout.print(f"example {index}: {decoded['question']}", markup=False, highlight=False)
    stdout.print(f"generated: {decoded['generated']!r} ({'correct' if decoded['correct'] else 'wrong'}; gold {decoded['answer']!r})", markup=False, highlight=False)
    table = Table(title=f"{decoded['num_thoughts']} continuous thoughts through the LM head (top {top})")
    table.add_column("thought", justify="right")
    for rank in range(1, top + 1):
        table.add_column(f"#{rank}")
    for thought in decoded["thoughts"]:
        table.add_row(str(thought["thought"]), *(escape(f"{entry['token']!r} {entry['probability']:.3f}") for entry in thought["top"]))
    stdout.print(table)


def _fixed(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _print_table(title: str, header: list[str], cells: list[list[str]], output: str) -> None:
    if output == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows([header, *cells])
    elif output == "markdown":
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        sys.stdout.write("\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells]) + "\n")
    else:
        from rich.markup import escape
        from rich.table import Table

        from cocobench.cli.common import stdout

        table = Table(title=escape(title))
        for i, name in enumerate(header):
            table.add_column(escape(name), justify="left" if i == 0 else "right")
        for row in cells:
            table.add_row(*map(escape, row))
        stdout.print(table)
