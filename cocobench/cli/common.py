"""Option types and output helpers shared by the commands (defined once, like lighteval)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

# Tables and JSON go to stdout; progress, logs and warnings to stderr.
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def positive(name: str, value: int) -> int:
    from cocobench.errors import CocobenchError

    if value <= 0:
        raise CocobenchError(f"{name} must be a positive integer, got {value}")
    return value
