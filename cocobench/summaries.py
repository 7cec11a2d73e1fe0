"""Plain summaries of a list of values, as `cocobench data stats` shows them (JSON-able dicts): what
`cocobench.datastats` and a task's own `extra_stats` share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any


def summary(values: Sequence[float]) -> dict[str, float] | None:
    """min / mean / max (mean rounded to 3 decimals); None for no values."""
    if not values:
        return None
    return {"min": min(values), "mean": round(sum(values) / len(values), 3), "max": max(values)}


def histogram(values: Sequence[Any]) -> dict[str, int]:
    """Counts keyed by str(value) (JSON keys), numeric values in numeric order."""
    counts = Counter(values)
    return {str(k): counts[k] for k in sorted(counts, key=lambda v: (not isinstance(v, (int, float)), v))}
