"""`cocobench gen prosqa`: ProsQA splits with the official files' layout and statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cocobench.cli.common import quiet_option
from cocobench.cli.gen import gen_app
from cocobench.tasks import prosqa, prosqa_symbolic

TRAIN, VALID, TEST = prosqa.TASK.default_sizes


@gen_app.command("prosqa")
def gen_prosqa(
    out: Optional[Path] = typer.Option(None, "--out", help="Directory to write train.json, valid.json, test.json and meta.json into. [default: data/prosqa]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an --out directory that already holds files."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed and options give byte-identical files."),
    train: int = typer.Option(TRAIN, "--train", help="Number of training examples (paper: 17886)."),
    valid: int = typer.Option(VALID, "--valid", help="Number of validation examples (paper: 300)."),
    test: int = typer.Option(TEST, "--test", help="Number of test examples (paper: 500); independent of --train."),
    min_nodes: int = typer.Option(prosqa.MIN_NODES, "--min-nodes",
                                  help="Smallest N, the nodes Algorithm 1 grows before people without a child are "
                                       "dropped (N=28 gives the official 22.8 nodes on average)."),
    max_nodes: int = typer.Option(prosqa.MAX_NODES, "--max-nodes",
                                  help=f"Largest N (N is drawn uniformly from min..max; at most {prosqa.NODES_LIMIT})."),
    min_hops: Optional[int] = typer.Option(None, "--min-hops", show_default=False,
                                           help=f"Fewest reasoning steps (shortest root -> target path length) to keep. [default: {prosqa.MIN_HOPS}; "
                                                f"symbolic: {prosqa_symbolic.MIN_HOPS}]"),
    max_hops: Optional[int] = typer.Option(None, "--max-hops", show_default=False,
                                           help=f"Most reasoning steps to keep (out-of-distribution sets: --min-hops 7 --max-hops 8). "
                                                f"[default: {prosqa.MAX_HOPS}; symbolic: {prosqa_symbolic.MAX_HOPS}]"),
    format: str = typer.Option("language", "--format",
                               help="language (the paper's English sentences) | symbolic (every node one token, 'Reasoning by "
                                    "Superposition'; adds neighbor_k; default --out data/prosqa-symbolic)."),
    quiet: bool = quiet_option("No progress bar or summary on stderr."),
) -> None:
    """Generate ProsQA train/valid/test splits (paper Appendix A, Algorithm 1), deterministic for --seed."""
    from cocobench.cli.common import data_out_dir, generate_and_write, seed as check_seed, split_sizes
    from cocobench.errors import CocobenchError

    if format not in ("language", "symbolic"):
        raise CocobenchError(f"--format must be language or symbolic, got '{format}'")
    module = prosqa_symbolic if format == "symbolic" else prosqa
    sizes = split_sizes(train, valid, test)
    check_seed(seed)
    knobs = {"min_nodes": min_nodes, "max_nodes": max_nodes, "min_hops": module.MIN_HOPS if min_hops is None else min_hops,
             "max_hops": module.MAX_HOPS if max_hops is None else max_hops}
    prosqa.validate_knobs(**knobs)
    out = data_out_dir(out, "prosqa" if format == "language" else "prosqa-symbolic", overwrite=overwrite)
    generate_and_write(out, sizes, lambda progress: module.generate_splits(seed, sizes, **knobs, progress=progress), module.meta(seed, sizes, **knobs),
                       quiet=quiet, overwrite=overwrite)
