"""Value checks shared by the run settings (cocobench/config.py) and the generator settings (cocobench/tasks/):
each gets the option's flag (`--seed`) and a value that is not None, and raises CocobenchError naming it."""

from __future__ import annotations

from cocobench.errors import CocobenchError

MAX_SEED = 2**32 - 1  # what every seeded library takes (NumPy's limit); torch's 2**64 - 1 would overflow the trainer's derived seeds


def positive(option: str, value: int) -> None:
    if value <= 0:
        raise CocobenchError(f"{option} must be a positive integer, got {value}")


def seed_range(option: str, value: int) -> None:
    if not 0 <= value <= MAX_SEED:
        raise CocobenchError(f"{option} must be in 0..{MAX_SEED} (2**32 - 1), got {value}")
