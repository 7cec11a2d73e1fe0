"""Optional experiment trackers (--wandb, --tensorboard), used only when their package is installed."""

from __future__ import annotations

from typing import Any

from cocobench.errors import CocobenchError
from cocobench.rundir import RunDir


class Loggers:
    def __init__(self, cfg, run_dir):
        self.sinks = []
        if cfg.wandb:
            try:
                import wandb
            except ImportError:
                raise CocobenchError("--wandb needs the wandb package: pip install wandb (or drop --wandb)") from None
            self.sinks.append(wandb.init(project="cocobench", name=run_dir.name, config=cfg.to_dict(), dir=str(run_dir)).log)
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise CocobenchError("--tensorboard needs the tensorboard package: pip install tensorboard (or drop --tensorboard)") from None
            writer = SummaryWriter(log_dir=str(RunDir(run_dir).tensorboard))
            self.sinks.append(lambda values, step: [writer.add_scalar(k, v, step) for k, v in values.items()])

    def log(self, values: dict[str, Any], step: int) -> None:
        for sink in self.sinks:
            if sink.__name__ == "log":  # wandb's Run.log takes step as a keyword
                sink(values, step=step)
            else:
                sink(values, step)

    def __bool__(self) -> bool:
        return bool(self.sinks)
