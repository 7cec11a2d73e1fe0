"""User-facing errors: one line on stderr, exit code 2, no traceback (the CLI catches them)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CocobenchError(Exception):
    """Bad input the user can fix. The message names the problem and the fix, on one line."""


class Interrupted(Exception):
    """Ctrl-C: the CLI prints `interrupted: <how to continue>` and exits 130. A command that knows how
    to continue (e.g. `run`: its directory) raises this from the KeyboardInterrupt with that advice."""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> CocobenchError:
    """`unknown method 'cocnut'; did you mean 'coconut'? available: ...`"""
    choices = sorted(choices)
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ";"
    return CocobenchError(f"unknown {kind} '{name}'{hint} available: {', '.join(choices)}")
