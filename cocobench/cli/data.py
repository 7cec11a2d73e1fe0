"""`cocobench data stats|show|check|export`: look inside example files, or export a data directory. The numbers live in `cocobench/datastats.py`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import typer

from cocobench.cli import app
from cocobench.cli.common import OutputFormat, check_format, format_option, json_alias_option, quiet_option

FORMATS = ("rich", "json")  # statistics with histograms in their cells: a terminal table or JSON

data_app = typer.Typer(help="Inspect example files: statistics side by side, feature distances, one example, validity checks; export a data directory.", no_args_is_help=True)
app.add_typer(data_app, name="data")

BIG_FILE = 2000  # examples; below this a check takes a blink and a progress bar is only noise


def _task_option(what: str):
    return typer.Option(None, "--task", help=f"Task whose {what} to use (prosqa, prontoqa, mult, gsm). [default: detected from the first example]")


@data_app.command("stats")
def stats_command(
    files: list[Path] = typer.Argument(..., metavar="FILE", help="Example files (JSON array or JSON Lines); one column each."),
    task: str | None = _task_option("extra statistics"),
    output_format: OutputFormat = format_option(FORMATS, "the statistics"),
    as_json: bool = json_alias_option(),
    quiet: bool = quiet_option("Accepted for a uniform CLI; this command prints nothing on stderr but errors."),
) -> None:
    """Statistics of example files side by side: steps, question length, answers, the task's own (e.g. ProsQA graphs)."""
    from cocobench.cli.common import print_json, stdout
    from cocobench.datastats import file_stats, resolve_task
    from cocobench.examples import load_examples

    output = check_format(output_format, "data stats", FORMATS, json_alias=as_json)
    loaded = [(file, load_examples(file)) for file in files]  # every file valid before any output
    stats = [{"file": str(file), **file_stats(examples, resolve_task(examples, task, file))} for file, examples in loaded]
    if output == "json":
        print_json({"files": stats})
    else:
        stdout.print(_stats_table(stats))


def _stats_table(stats: list[dict[str, Any]]):
    from rich.markup import escape
    from rich.table import Table

    table = Table(caption="min / mean / max; histograms: value: count (share)", caption_justify="left")
    table.add_column("statistic", no_wrap=True)
    names = [Path(s["file"]).name for s in stats]
    unique = len(set(names)) == len(names)  # base names keep the columns narrow unless they collide
    for s, name in zip(stats, names):
        table.add_column(escape(name if unique else s["file"]), overflow="fold")
    rows: list[tuple[str, list[Any]]] = [
        ("task", [s["task"] or "unknown" for s in stats]),
        ("examples", [s["examples"] for s in stats]),
        ("steps", [_summary_only(s["steps"]) for s in stats]),
        ("steps histogram", [s["steps"]["histogram"] for s in stats]),
        ("question words", [s["question_words"] for s in stats]),
        ("question tokens", [s["question_tokens"] for s in stats]),
        ("answers", [s["answers"]["distribution"] or f"{s['answers']['distinct']} distinct" for s in stats]),
    ]
    extra_keys = list(dict.fromkeys(key for s in stats for key in s["extra"]))
    rows += [(key.replace("_", " "), [s["extra"].get(key) for s in stats]) for key in extra_keys]
    for name, values in rows:
        table.add_row(name, *(escape(_cell(v)) for v in values))
    return table


def _summary_only(steps: dict[str, Any]) -> dict[str, Any] | None:
    rest = {k: v for k, v in steps.items() if k != "histogram"}
    return rest or None


def _cell(value: Any) -> str:
    """One statistic as text: min / mean / max, histograms one bin per line with shares, numbers compact."""
    if value is None or value == {}:
        return "-"
    if isinstance(value, dict) and {"min", "mean", "max"} <= set(value):
        return " / ".join(_cell(value[k]) for k in ("min", "mean", "max"))
    if isinstance(value, dict) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        # Shares next to counts: files of different sizes (valid 300, test 500) compare by share.
        total = sum(value.values()) or 1
        return "\n".join(f"{k}: {v} ({100 * v / total:.1f}%)" for k, v in value.items())
    if isinstance(value, dict):
        return "\n".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 10_000 else f"{value:.0f}"
    return str(value)


@data_app.command("compare")
def compare_command(
    file_a: Path = typer.Argument(..., metavar="A", help="An example file (e.g. the official one)."),
    file_b: Path = typer.Argument(..., metavar="B", help="An example file of the same task (e.g. a generated one)."),
    task: str | None = _task_option("features"),
    output_format: OutputFormat = format_option(FORMATS, "the comparison"),
    as_json: bool = json_alias_option(),
    quiet: bool = quiet_option("Accepted for a uniform CLI; this command prints nothing on stderr but errors."),
) -> None:
    """Can a statistic tell A from B? Per feature: total-variation distance and its sampling floor (halves of the smaller file)."""
    from cocobench.cli.common import print_json, stdout
    from cocobench.datastats import FAR_ABOVE_FLOOR, compare_features, resolve_task
    from cocobench.errors import CocobenchError
    from cocobench.examples import load_examples

    output = check_format(output_format, "data compare", FORMATS, json_alias=as_json)
    a, b = load_examples(file_a), load_examples(file_b)
    task_a, task_b = resolve_task(a, task, file_a), resolve_task(b, task, file_b)
    if task is None and task_a is not task_b:
        names = [t.name if t else "unrecognised" for t in (task_a, task_b)]
        raise CocobenchError(f"{file_a} is {names[0]} but {file_b} is {names[1]}; compare two files of one task, or pass --task")
    rows = compare_features(a, b, task_a)
    if output == "json":
        print_json({"a": str(file_a), "b": str(file_b), "task": task_a.name if task_a else None,
                    "examples": [len(a), len(b)], "far_above_floor": FAR_ABOVE_FLOOR, "features": rows})  # fmt: skip
    else:
        stdout.print(_compare_table(rows, file_a, file_b, len(a), len(b)))


def _compare_table(rows: list[dict[str, Any]], file_a: Path, file_b: Path, n_a: int, n_b: int):
    from rich.markup import escape
    from rich.table import Table

    from cocobench.datastats import FAR_ABOVE_FLOOR, NOTICEABLE

    far = sum(row["far"] for row in rows)
    caption = (f"distance: total variation between the two files' distributions of the feature; floor: what two samples "
               f"of {n_a} and {n_b} from one distribution typically show; '!' marks distances over {FAR_ABOVE_FLOOR:g}x "
               f"the floor (and at least {NOTICEABLE}): {far} of {len(rows)} features")  # fmt: skip
    table = Table(title=f"A = {escape(str(file_a))} ({n_a}), B = {escape(str(file_b))} ({n_b})", caption=caption, caption_justify="left")
    for column in ("feature", "mean A", "mean B", "distance", "floor", "x floor", ""):
        table.add_column(column, justify="left" if column == "feature" else "right", no_wrap=column == "feature")
    for row in rows:
        ratio = row["distance"] / row["floor"] if row["floor"] else (0.0 if row["distance"] == 0 else float("inf"))
        table.add_row(row["feature"].replace("_", " "), _cell(row["mean_a"]), _cell(row["mean_b"]), f"{row['distance']:.3f}",
                      f"{row['floor']:.3f}", f"{ratio:.1f}", "!" if row["far"] else "")  # fmt: skip
    return table


@data_app.command("show")
def show_command(
    file: Path = typer.Argument(..., metavar="FILE", help="An example file (JSON array or JSON Lines)."),
    index: int = typer.Option(0, "--index", help="Which example, counting from 0 (the first one when not given)."),
    as_json: bool = typer.Option(False, "--json", help="Print the example as JSON instead of formatted text."),
    quiet: bool = quiet_option("Accepted for a uniform CLI; this command prints nothing on stderr but errors."),
) -> None:
    """Pretty-print one example: the question wrapped, numbered steps, the answer, other fields compact."""
    from cocobench.cli.common import print_json
    from cocobench.datastats import format_example
    from cocobench.errors import CocobenchError
    from cocobench.examples import load_examples

    examples = load_examples(file)
    if not 0 <= index < len(examples):
        valid = f"valid: 0..{len(examples) - 1}" if examples else "the file has no examples"
        raise CocobenchError(f"--index {index} is out of range for {file} ({len(examples)} examples); {valid}")
    if as_json:
        print_json(examples[index])
        return
    width = min(shutil.get_terminal_size((88, 24)).columns, 100)
    sys.stdout.write(f"{file}: example {index} of {len(examples)} (counting from 0)\n" + format_example(examples[index], width))


@data_app.command("check")
def check_command(
    files: list[Path] = typer.Argument(..., metavar="FILE", help="Example files (JSON array or JSON Lines)."),
    task: str | None = _task_option("checker"),
    max_report: int = typer.Option(20, "--max-report", help="List at most this many invalid examples per file (0: only the counts)."),
    quiet: bool = quiet_option("No progress bar on stderr."),
) -> None:
    """Run the task's checker over every example; exit 0 if all are valid, 1 if any is not (2 on bad input)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cocobench.cli.common import stderr
    from cocobench.datastats import check_examples, resolve_task
    from cocobench.errors import CocobenchError
    from cocobench.examples import load_examples
    from cocobench.tasks import task_names

    if max_report < 0:
        raise CocobenchError(f"--max-report must be 0 or more, got {max_report}")
    jobs = []
    for file in files:  # load and resolve everything first: a bad last file fails before any report
        examples = load_examples(file)
        resolved = resolve_task(examples, task, file)
        if resolved is None and examples:
            raise CocobenchError(f"{file}: no task recognises its first example; pass --task (one of {', '.join(task_names())})")
        jobs.append((file, examples, resolved))

    total = sum(len(examples) for _, examples, _ in jobs)
    any_bad = False
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, disable=quiet or total < BIG_FILE, transient=True) as progress:
        reports = []
        for file, examples, resolved in jobs:
            bar = progress.add_task(f"checking {file.name}", total=len(examples))
            bad = check_examples(examples, resolved, lambda n: progress.advance(bar, n)) if examples else []
            reports.append((file, examples, resolved, bad))
    for file, examples, resolved, bad in reports:
        any_bad |= bool(bad)
        name = f" as {resolved.name}" if resolved else ""
        print(f"{file}: {len(examples)} examples checked{name}, {len(bad)} invalid")
        for index, problems in bad[:max_report]:
            print(f"  example {index}: {'; '.join(problems)}")
        if len(bad) > max_report:
            print(f"  ... and {len(bad) - max_report} more (raise --max-report to list them)")
    raise typer.Exit(1 if any_bad else 0)


@data_app.command("convert")
def convert_command(
    files: list[Path] = typer.Argument(..., metavar="FILE", help="ProsQA example files (the official ones or `cocobench gen prosqa`'s)."),
    out: Path = typer.Option(..., "--out", help="Directory to write the converted files into (same file names)."),
    to: str = typer.Option("symbolic", "--to", help="The format to convert to: symbolic (every node one token, with neighbor_k)."),
    min_hops: int = typer.Option(3, "--min-hops", help="Keep examples with at least this many steps (the anchor's subset: 3-4)."),
    max_hops: int = typer.Option(4, "--max-hops", help="Keep examples with at most this many steps."),
    seed: int = typer.Option(0, "--seed", help="Seed of the option order written into each question (per file)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace files that already exist in --out."),
    quiet: bool = quiet_option("No summary on stderr."),
) -> None:
    """Convert ProsQA files to symbolic ProsQA ("Reasoning by Superposition"): keeps the examples with
    --min-hops..--max-hops steps, in their order, and writes each with node-id text and neighbor_k."""
    from cocobench.errors import CocobenchError
    from cocobench.examples import load_examples, write_examples
    from cocobench.progress import log
    from cocobench.tasks import prosqa, prosqa_symbolic

    if to != "symbolic":
        raise CocobenchError(f"--to must be symbolic (the one conversion there is), got '{to}'")
    if not 1 <= min_hops <= max_hops:
        raise CocobenchError(f"need 1 <= --min-hops <= --max-hops, got {min_hops} and {max_hops}")
    if not 0 <= seed <= 2**32 - 1:
        raise CocobenchError(f"--seed must be in 0..{2**32 - 1}, got {seed}")
    if out.exists() and not out.is_dir():
        raise CocobenchError(f"--out '{out}' is a file, not a directory; choose another --out")
    jobs = []
    for file in files:  # read and convert everything first: a bad last file writes nothing
        target = out / (file.stem + ".json")
        if target.exists() and not overwrite:
            raise CocobenchError(f"'{target}' exists; pass --overwrite to replace it, or choose another --out")
        examples = load_examples(file)
        for i, example in enumerate(examples):
            problems = prosqa.check_example(example) if prosqa.recognizes(example) else ["not a ProsQA example"]
            if problems:
                raise CocobenchError(f"{file}: example {i} cannot be converted: {problems[0]}; check it with `cocobench data check {file}`")
        try:
            converted = prosqa_symbolic.convert(examples, seed, file.stem, min_hops, max_hops)
        except ValueError as exc:
            raise CocobenchError(f"{file}: {exc}") from None
        jobs.append((file, target, converted, len(examples)))
    for file, target, converted, n in jobs:
        write_examples(target, converted)
        log(f"{file} -> {target}: {len(converted)} of {n} examples ({min_hops}-{max_hops} steps)", quiet)


@data_app.command("export")
def export_command(
    data_dir: Path = typer.Argument(..., metavar="DIR", help="A data directory (train/valid/test splits, as `cocobench gen` writes)."),
    to: str = typer.Option("parquet", "--to", help="The format to write: parquet (one file per split, and a dataset card)."),
    out: Path | None = typer.Option(None, "--out", help="Where to write. [default: DIR-parquet]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it already holds files."),
    quiet: bool = quiet_option("No note on stderr of what was written."),
) -> None:
    """Write DIR's splits as parquet with a dataset card (generator, version, settings, fingerprints):
    `datasets.load_dataset(OUT)` reads it back, `push_to_hub` shares it."""
    from cocobench.cli.common import stderr
    from cocobench.hfdata import check_export_format, export_parquet
    from cocobench.tasks.generator import check_out_dir, data_dir_lock

    check_export_format(to)
    out = data_dir.with_name(f"{data_dir.name}-{to}") if out is None else out
    check_out_dir(out, overwrite=overwrite)
    with data_dir_lock(out, overwrite=overwrite):
        counts = export_parquet(data_dir, out)
    if not quiet:
        stderr.print(f"wrote {', '.join(f'{n} {split}' for split, n in counts.items())} as {to} with a dataset card to {out}")
