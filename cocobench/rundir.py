"""A run directory's layout: the one place its files are named. What `cocobench run` writes there:

    RUN_DIR/
      config.yaml        the run's resolved settings (a resume reads them)
      start.json         when the run started, and its train/valid/test files' fingerprints
      init_from.json     the --init-from checkpoint's fingerprint (runs started from one)
      checkpoints/last   the last epoch's weights with the optimizer and trainer state (--resume)
      checkpoints/best   the weights of the best validation accuracy (what the test evaluates)
      results.json       the results (`cocobench.results`); `eval` writes only this one
      tensorboard/, wandb/   the trackers' logs (--tensorboard, --wandb)
      .cocobench.lock    held while a process works in the directory (`cocobench.io.directory_lock`)

Nothing here reads or writes: the modules that do (runner, checkpoints, suite, the `run` command) ask
a `RunDir` where each file is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cocobench.io import LOCK_FILE

RUNS_ROOT = Path("runs")  # where a run, a suite or an evaluation goes without --out
RESULTS_FILE = "results.json"
CONFIG_FILE = "config.yaml"
START_FILE = "start.json"  # the run's start time (UTC) and its train/test files' fingerprints, saved at its start
INIT_FILE = "init_from.json"  # the fingerprint of the --init-from checkpoint, saved at the run's start
CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.pt"  # in a resumable checkpoint (checkpoints/last): the optimizer's and trainer's state
TRACKER_LOGS = ("tensorboard", "wandb")
# What a run writes into its directory: all that `run --overwrite` removes before starting over.
RUN_OUTPUTS = (CHECKPOINTS, START_FILE, INIT_FILE, CONFIG_FILE, RESULTS_FILE, *TRACKER_LOGS)


@dataclass(frozen=True)
class RunDir:
    """The paths of one run directory's files (nothing is created or read)."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, cfg) -> RunDir:
        """A run's directory: its --out, or runs/<run name> (`RunConfig.run_name`)."""
        return cls(Path(cfg.out) if cfg.out else RUNS_ROOT / cfg.run_name())

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def start(self) -> Path:
        return self.path / START_FILE

    @property
    def init_from(self) -> Path:
        return self.path / INIT_FILE

    @property
    def results(self) -> Path:
        return self.path / RESULTS_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def best(self) -> Path:
        return self.checkpoints / "best"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def lock(self) -> Path:
        return self.path / LOCK_FILE

    def resumable(self) -> bool:
        """checkpoints/last holds a trainer state: `run --resume` continues from it."""
        return (self.last / TRAINER_STATE).is_file()
