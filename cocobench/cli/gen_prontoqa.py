"""`cocobench gen prontoqa`: 5-hop ProntoQA over fictional concepts, in Coconut's preprocessing."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cocobench.cli.common import quiet_option
from cocobench.errors import CocobenchError
from cocobench.cli.gen import gen_app
from cocobench.tasks import prontoqa

TRAIN, VALID, TEST = prontoqa.TASK.default_sizes


@gen_app.command("prontoqa")
def gen_prontoqa(
    out: Optional[Path] = typer.Option(None, "--out", help="Directory to write train.json, valid.json, test.json and meta.json into. [default: data/prontoqa]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an --out directory that already holds files."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed and options give byte-identical files."),
    train: int = typer.Option(TRAIN, "--train", help="Number of training examples (paper: 9000)."),
    valid: int = typer.Option(VALID, "--valid", help="Number of validation examples (paper: 200)."),
    test: int = typer.Option(TEST, "--test", help="Number of test examples (paper: 800); independent of --train."),
    hops: int = typer.Option(prontoqa.HOPS, "--hops",
                             help=f"Reasoning hops per question (paper: 5; 1..{prontoqa.MAX_HOPS}); "
                                  "the proof has 2*hops+1 sentences, hops+1 steps."),
    balanced: bool = typer.Option(False, "--balanced",
                                  help="Exactly as many True as False answers per split (default: a fair coin per "
                                       "example, as the original generator does)."),
    quiet: bool = quiet_option("No progress bar or summary on stderr."),
) -> None:
    """Generate ProntoQA train/valid/test splits (fictional ontology, 'True or false' queries), deterministic for --seed."""
    from cocobench.cli.common import data_out_dir, generate_and_write, seed as check_seed, split_sizes

    sizes = split_sizes(train, valid, test)
    check_seed(seed)
    prontoqa.validate_hops(hops)
    odd = [name for name, size in sizes.items() if size % 2]
    if balanced and odd:  # half True, half False: an odd split cannot be, and meta.json would say it is
        raise CocobenchError(f"--balanced needs even split sizes, but --{odd[0]} is {sizes[odd[0]]}; make it even or leave out --balanced")
    out = data_out_dir(out, "prontoqa", overwrite=overwrite)
    generate_and_write(out, sizes, lambda progress: prontoqa.generate_splits(seed, sizes, hops, progress=progress, balanced=balanced), prontoqa.meta(seed, sizes, hops, balanced), quiet=quiet, overwrite=overwrite)
