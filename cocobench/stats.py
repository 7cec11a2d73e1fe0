"""Paired statistics for two runs answering the same test examples (`cocobench compare` and `table`),
and the exact binomial test behind the evaluation's `choice_p`.

Both runs saw the same examples, so we compare them example by example rather than as two
independent accuracies: only the *discordant* examples (right in one run, wrong in the other) carry
evidence of a change. Call b the examples only the baseline got right (lost) and c the ones only the
new run got right (gained); accuracy(new) - accuracy(base) = (c - b) / n.

- `mcnemar_exact(b, c)`: two-sided exact McNemar test. Under "no change" each discordant example is
  equally likely to have gone either way, so min(b, c) is the lower tail of Bin(b + c, 1/2):
  p = min(1, 2 * P(X <= min(b, c))). Exact integer arithmetic: no normal approximation, which is
  wrong for the small b + c that tiny test sets give.
- `paired_bootstrap_ci(...)`: percentile confidence interval of the accuracy difference, resampling
  examples (pairs) with replacement under a fixed seed, so the same inputs always print the same CI.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def discordant_pairs(base: Sequence[bool], new: Sequence[bool]) -> tuple[int, int]:
    """(b, c): examples only the baseline got right (lost) and only the new run got right (gained)."""
    if len(base) != len(new):
        raise ValueError(f"paired samples must have equal length, got {len(base)} and {len(new)}")
    b = sum(1 for old, now in zip(base, new) if old and not now)
    c = sum(1 for old, now in zip(base, new) if now and not old)
    return b, c


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b lost and c gained examples (1.0 when nothing changed)."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    # tail = sum_{k <= min(b, c)} C(n, k), with C(n, k+1) = C(n, k) * (n - k) / (k + 1) exactly in ints.
    term = tail = 1
    for k in range(min(b, c)):
        term = term * (n - k) // (k + 1)
        tail += term
    # int / int is correctly rounded in Python even when 2**n overflows a float.
    return min(1.0, 2 * tail / 2**n)


def paired_bootstrap_ci(
    base: Sequence[bool],
    new: Sequence[bool],
    *,
    resamples: int = 10_000,  # enough that the 2.5% / 97.5% quantiles are stable to ~0.001
    confidence: float = 0.95,
    seed: int = 0,  # fixed: CI output must be deterministic for CI logs and tests
) -> tuple[float, float]:
    """Percentile CI of accuracy(new) - accuracy(base), resampling examples with replacement.

    A resample's difference depends only on how many lost, gained and unchanged examples it drew,
    so we draw those three counts from a multinomial: the same distribution as resampling indices,
    in O(resamples) time instead of O(resamples * n).
    """
    if resamples <= 0:
        raise ValueError(f"resamples must be positive, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    b, c = discordant_pairs(base, new)
    n = len(base)
    if n == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [b / n, c / n, (n - b - c) / n], size=resamples)  # (R, 3): lost, gained, same
    diffs = (counts[:, 1] - counts[:, 0]) / n  # (R,)
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    return float(low) + 0.0, float(high) + 0.0  # + 0.0 turns -0.0 into 0.0 for printing
