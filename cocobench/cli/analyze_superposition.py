"""`cocobench analyze superposition`: the thought-vs-node inner products and the attention to edges of
"Reasoning by Superposition" on symbolic ProsQA. The numbers live in `cocobench/analysis/superposition.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cocobench.cli.analyze_model import RUNS_LIMIT
from cocobench.cli.common import OutputFormat, check_format, format_option, print_json, quiet_option
from cocobench.cli.setting_options import setting_option_info

FORMATS = ("rich", "markdown", "csv", "json")


def superposition_command(
    checkpoint: Path = typer.Argument(..., metavar="CHECKPOINT", help="A checkpoint directory of a symbolic ProsQA run (coconut, codi, or cot as the control)."),
    data: Path = typer.Option(..., "--data", help="A symbolic ProsQA split file or data directory (its test split is used)."),
    k: Optional[int] = typer.Option(None, "--k", help="Continuous thoughts per example. [default: the run's inference (node supervision: the example's own steps)]"),
    show: Optional[int] = typer.Option(None, "--show", help="Also print example N's nodes with their inner product at each thought."),
    limit_eval: Optional[int] = setting_option_info("limit_eval", note=RUNS_LIMIT),
    out: Optional[Path] = typer.Option(None, "--out", help="Output directory: superposition.json, examples.csv, summary.csv, thoughts.png, attention.png. [default: runs/superposition-<run>-<data>]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into an --out directory that already holds files (its files are replaced)."),
    quiet: bool = quiet_option(),
    output_format: OutputFormat = format_option(FORMATS, "the summary (one row per thought and group)"),
) -> None:
    """Does a continuous thought hold the whole search frontier? Per thought: its inner product with the graph's node embeddings, grouped into optimal / frontier / reachable / other nodes, and the attention of its pass to edges by their source (Zhu et al. 2025, Section 5).

    Each group is compared with the other nodes by a paired sign test over the examples. A CoT checkpoint is the control: its state that writes the i-th node of its own greedy chain, with the written node as a group.
    """
    from cocobench.analysis import superposition
    from cocobench.cli.analyze_model import _print_table

    output = check_format(output_format, "analyze superposition", FORMATS)
    report, examples = superposition.run(checkpoint, data, k=k, out=out, overwrite=overwrite, show=show, overrides={"limit_eval": limit_eval, "quiet": quiet})
    if output == "json":
        print_json({key: value for key, value in report.items() if key != "records"} | ({"case_study": report["records"][show]} if show is not None else {}))
        return
    header, cells = table_rows(report)
    _print_table(f"superposition analysis of {report['run']} ({report['examples']} examples)", header, cells, output)
    if show is not None and output == "rich":
        from cocobench.cli.common import stdout

        stdout.print(superposition.case_study(examples[show], report["records"][show]))


def table_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """One row per thought and node group: mean inner product and mass, and the sign test against the
    other nodes; the layers' attention per edge of the same group (heads summed)."""
    layers = len(report["summary"][0]["attention_heads_summed"]["frontier"]) if report["summary"] else 0
    header = [report["step_name"], "group", "inner product", "mass", "above other (p)", *(f"attention/edge L{layer + 1}" for layer in range(layers))]
    cells = []
    for row in report["summary"]:
        for name, stats in row["inner_product"].items():
            test = row["tests"].get(f"inner_product_{name}_vs_other")
            attention = row["attention_heads_summed"].get(name) if name != "written" else None
            cells.append([
                str(row["thought"]), name, _number(stats["mean"]), _number(row["mass"][name]["mean"]),
                f"{test['above']}/{test['pairs']} ({test['p']:.2g})" if test and test["pairs"] else "",
                *((_number(attention[layer]["mean"]) if attention else "") for layer in range(layers)),
            ])
    return header, cells


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
