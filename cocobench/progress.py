"""Rich progress bars on stderr (silent with --quiet): training steps with loss/stage/speed, and counters."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_console = Console(stderr=True)


def quiet_libraries() -> None:
    """transformers' own bars and notices ("Writing model shards") would interleave with ours."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console,
        transient=False,
    )


@contextmanager
def counter(description: str, total: int, quiet: bool):
    """Yields `advance(n)`; a progress bar unless quiet."""
    if quiet:
        yield lambda n=1: None
        return
    with _progress() as progress:
        task = progress.add_task(description, total=total, info="")
        yield lambda n=1: progress.advance(task, n)


LOSS_READ_SECONDS = 0.5


class TrainingReporter:
    """What the trainer calls; renders one bar per epoch with loss, stage and examples/second."""

    def __init__(self, name: str, epochs: int, quiet: bool, logger=None):
        self.name, self.epochs, self.quiet, self.logger = name, epochs, quiet, logger
        self.progress = None if quiet else _progress()
        self.global_step = 0

    def __enter__(self):
        if self.progress:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.__exit__(*exc)

    def start_epoch(self, epoch: int, stage: int, steps: int) -> None:
        self.epoch, self.stage, self.examples, self.started = epoch, stage, 0, time.perf_counter()
        self.loss_read = float("-inf")
        if self.progress:
            self.task = self.progress.add_task(f"{self.name} epoch {epoch + 1}/{self.epochs}", total=steps, info=f"stage {stage}")

    def step(self, examples: int, loss) -> None:
        """`loss`: the running mean loss, or a function returning it. A function is called at most every
        LOSS_READ_SECONDS: on a GPU reading the loss waits for the device to finish the step."""
        self.examples += examples
        self.global_step += 1
        now = time.perf_counter()
        speed = self.examples / max(now - self.started, 1e-9)
        if callable(loss):
            if now - self.loss_read < LOSS_READ_SECONDS or not (self.progress or self.logger):
                if self.progress:
                    self.progress.update(self.task, advance=1)
                return
            self.loss_read, loss = now, loss()
        if self.progress:
            self.progress.update(self.task, advance=1, info=f"stage {self.stage} loss {loss:.4f} {speed:.1f} ex/s")
        if self.logger:
            self.logger.log({"train/loss": loss, "train/stage": self.stage, "train/examples_per_second": speed}, self.global_step)

    def end_epoch(self, record: dict[str, Any]) -> None:
        if self.progress:
            self.progress.remove_task(self.task)  # one summary line per epoch stays, not one bar
        if self.logger:
            self.logger.log({f"epoch/{k}": v for k, v in record.items() if isinstance(v, (int, float))}, self.global_step)
        if not self.quiet:
            val = f" val_acc {record['val_accuracy']:.3f}" if record.get("val_accuracy") is not None else ""
            _console.print(f"  epoch {record['epoch'] + 1}: stage {record['stage']} loss {record['train_loss']:.4f}{val} ({record['seconds']:.1f}s)")


def wide_enough(console: Console, renderable) -> Console:
    """The console to print `renderable` on without cutting cells: `console` itself on a terminal; for a
    file, a pipe or a CI log (where rich assumes 80 columns) one as wide as the renderable needs."""
    if console.is_terminal:
        return console
    from rich.measure import Measurement

    width = Measurement.get(console, console.options.update_width(10**6), renderable).maximum
    return Console(file=console.file, width=max(console.width, width), soft_wrap=True)


def log(message: str, quiet: bool) -> None:
    if not quiet:
        _console.print(message)
