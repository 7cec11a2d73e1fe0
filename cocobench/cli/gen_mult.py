"""`cocobench gen mult`: D x D multiplication splits in iCoT's format (reversed digits, partial products)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cocobench.cli.common import quiet_option
from cocobench.cli.gen import gen_app
from cocobench.tasks import mult

TRAIN, VALID, TEST = mult.TASK.default_sizes


@gen_app.command("mult")
def gen_mult(
    out: Optional[Path] = typer.Option(None, "--out", help="Directory to write train.json, valid.json, test.json and meta.json into. [default: data/mult]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an --out directory that already holds files."),
    digits: int = typer.Option(mult.DIGITS, "--digits", help=f"Digits of each operand, D in D x D (iCoT: 4, 5, 7, 9; at most {mult.MAX_DIGITS})."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed and options give byte-identical files."),
    train: int = typer.Option(TRAIN, "--train", help="Number of training examples (iCoT's own train files are far larger)."),
    valid: int = typer.Option(VALID, "--valid", help="Number of validation examples (iCoT: 1000)."),
    test: int = typer.Option(TEST, "--test", help="Number of test examples (iCoT: 1000); independent of --train."),
    quiet: bool = quiet_option("No progress bar or summary on stderr."),
) -> None:
    """Generate D x D multiplication train/valid/test splits (iCoT's format), deterministic for --seed."""
    from cocobench.cli.common import data_out_dir, generate_and_write, seed as check_seed, split_sizes

    sizes = split_sizes(train, valid, test)
    check_seed(seed)
    mult.validate_knobs(digits, sizes)
    out = data_out_dir(out, "mult", overwrite=overwrite)
    generate_and_write(out, sizes, lambda progress: mult.generate_splits(seed, sizes, digits, progress=progress), mult.meta(seed, sizes, digits), quiet=quiet, overwrite=overwrite, note=f" ({digits}x{digits} digits)")
