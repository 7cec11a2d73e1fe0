"""`cocobench gen gsm`: convert iCoT's GSM8k-Aug text files (the user's; never downloaded) to the example format."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import typer

from cocobench.cli.common import quiet_option
from cocobench.cli.gen import gen_app


@gen_app.command("gsm")
def gen_gsm(
    sources: list[Path] = typer.Option(..., "--from", metavar="DIR_OR_FILE",
                                       help="A directory holding train.txt / valid.txt / test.txt (any of them), or such "
                                            "files themselves (the file name's stem is the split); repeatable."),
    out: Optional[Path] = typer.Option(None, "--out", help="Directory to write {split}.json and meta.json into. [default: data/gsm]"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an --out directory that already holds files."),
    quiet: bool = quiet_option("No progress or summary on stderr."),
) -> None:
    """Convert GSM8k-Aug files in iCoT's line format 'question||<<step>> ... #### answer' into example splits."""
    from cocobench.cli.common import data_dir_lock, data_out_dir, stderr
    from cocobench.examples import SPLITS, write_data_dir
    from cocobench.tasks import gsm

    out = data_out_dir(out, "gsm", overwrite=overwrite)
    with stderr.status("reading iCoT files", spinner="dots") if not quiet else contextlib.nullcontext():
        splits, files = gsm.convert(sources)  # every line parsed before anything is written
    with data_dir_lock(out, overwrite=overwrite):
        write_data_dir(out, splits, gsm.meta(files))
    if not quiet:
        found = ", ".join(f"{split} <- {files[split]} ({len(splits[split])} examples)" for split in splits)
        missing = [split for split in SPLITS if split not in splits]
        stderr.print(f"found {found}" + (f"; no {', '.join(missing)} file" if missing else ""))
        stderr.print(f"wrote {', '.join(f'{split}.json' for split in splits)} to {out}; verify with `cocobench data check`")

