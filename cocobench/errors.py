"""User-facing errors: one line on stderr, exit code 2, no traceback (the CLI catches them)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CocobenchError(Exception):
    """Bad input the user can fix. The message names the problem and the fix, on one line."""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> CocobenchError:
    """`unknown method 'cocnut'; did you mean 'coconut'? available: ...`"""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ";"
    return CocobenchError(f"unknown {kind} '{name}'{hint} available: {', '.join(choices)}")
