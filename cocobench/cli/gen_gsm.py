"""`cocobench gen gsm`: convert iCoT's GSM8k-Aug text files (the user's; never downloaded) to the example format."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from cocobench.cli.gen import gen_app


@gen_app.command("gsm")
def gen_gsm(
    sources: list[Path] = typer.Option(..., "--from", metavar="DIR_OR_FILE",
                                       help="A directory holding train.txt / valid.txt / test.txt (any of them), or such "
                                            "files themselves (the file name's stem is the split); repeatable."),
    out: Path = typer.Option(..., "--out", help="Directory to write {split}.json and meta.json into."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress or summary on stderr."),
) -> None:
    """Convert GSM8k-Aug files in iCoT's line format 'question||<<step>> ... #### answer' into example splits."""
    from cocobench.cli.common import check_out_dir, stderr
    from cocobench.examples import SPLITS, write_splits
    from cocobench.tasks import gsm

    check_out_dir(out)
    with stderr.status("reading iCoT files", spinner="dots") if not quiet else contextlib.nullcontext():
        splits, files = gsm.convert(sources)  # every line parsed before anything is written
    write_splits(out, splits, gsm.meta(files))
    if not quiet:
        found = ", ".join(f"{split} <- {files[split]} ({len(splits[split])} examples)" for split in splits)
        missing = [split for split in SPLITS if split not in splits]
        stderr.print(f"found {found}" + (f"; no {', '.join(missing)} file" if missing else ""))
        stderr.print(f"wrote {', '.join(f'{split}.json' for split in splits)} to {out}; verify with `cocobench data check`")

