"""Paired statistics checked against values computed by hand."""

import math
import random

import pytest

from cocobench.stats import discordant_pairs, mcnemar_exact, paired_bootstrap_ci


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (5, 0, 0.0625),  # 2 * (1/2)^5
        (0, 5, 0.0625),  # two-sided: symmetric
        (1, 1, 1.0),  # 2 * P(X <= 1 | n=2) = 2 * 3/4, capped at 1
        (6, 1, 0.125),  # 2 * (1 + 7) / 2^7
        (3, 0, 0.25),  # 2 / 2^3
        (10, 2, 2 * (1 + 12 + 66) / 4096),  # C(12,0) + C(12,1) + C(12,2)
        (0, 0, 1.0),  # no discordant pairs: no evidence of any change
    ],
)
def test_mcnemar_exact_by_hand(b, c, expected):
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_exact_large_counts_do_not_overflow():
    assert mcnemar_exact(1000, 1000) == 1.0
    p = mcnemar_exact(600, 400)  # z ~ 6.3: p ~ 3e-10
    assert 0.0 < p < 1e-8 and math.isfinite(p)
    assert 0.0 <= mcnemar_exact(5000, 0) < 1e-300  # 2 / 2^5000 underflows quietly, no OverflowError


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def test_discordant_pairs_counts_lost_and_gained():
    base = [True, True, False, False, True]
    new = [True, False, True, False, False]
    assert discordant_pairs(base, new) == (2, 1)  # lost idx 1 and 4, gained idx 2
    with pytest.raises(ValueError):
        discordant_pairs([True], [True, False])


def test_bootstrap_identical_samples_give_zero_interval():
    correct = [True, False, True, True, False] * 20
    assert paired_bootstrap_ci(correct, list(correct)) == (0.0, 0.0)


def test_bootstrap_every_example_gained_or_lost():
    # Every resample of all-gained pairs has difference exactly +1 (and -1 when all are lost).
    assert paired_bootstrap_ci([False] * 3, [True] * 3) == (1.0, 1.0)
    assert paired_bootstrap_ci([True] * 4, [False] * 4) == (-1.0, -1.0)


def test_bootstrap_two_examples_by_hand():
    # One gained, one unchanged: a resample draws the gained one 0, 1 or 2 times (p = 1/4, 1/2, 1/4),
    # so the difference is 0, 0.5 or 1. Both tails hold 25% > 2.5%: the 95% interval is [0, 1].
    assert paired_bootstrap_ci([False, True], [True, True]) == (0.0, 1.0)
    # At 40% confidence the 30%/70% quantiles fall inside the middle value.
    assert paired_bootstrap_ci([False, True], [True, True], confidence=0.4) == (0.5, 0.5)


@pytest.mark.slow
def test_bootstrap_is_deterministic_and_matches_index_resampling():
    rng = random.Random(1)
    base = [rng.random() < 0.6 for _ in range(200)]
    new = [x if rng.random() < 0.8 else not x for x in base]
    low, high = paired_bootstrap_ci(base, new, seed=3)
    assert (low, high) == paired_bootstrap_ci(base, new, seed=3)
    point = (sum(new) - sum(base)) / len(base)
    assert low <= point <= high

    # The multinomial shortcut must agree with the textbook bootstrap that resamples indices.
    diffs = []
    for _ in range(4000):
        picks = [rng.randrange(len(base)) for _ in base]
        diffs.append(sum(new[i] - base[i] for i in picks) / len(base))
    diffs.sort()
    assert low == pytest.approx(diffs[int(0.025 * len(diffs))], abs=0.015)
    assert high == pytest.approx(diffs[int(0.975 * len(diffs))], abs=0.015)


def test_bootstrap_rejects_bad_settings():
    with pytest.raises(ValueError):
        paired_bootstrap_ci([True], [False], resamples=0)
    with pytest.raises(ValueError):
        paired_bootstrap_ci([True], [False], confidence=1.0)
    assert paired_bootstrap_ci([], []) == (0.0, 0.0)
